// Package cli is the gatehouse command line: flag parsing, logging, signals
// and the run and validate commands. It is public so that a main of your own
// (one that blank-imports extra plugins) runs exactly the same gateway.
package cli

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/buildinfo"
	"github.com/gatehouse-dev/gatehouse/internal/server"
	redisstore "github.com/gatehouse-dev/gatehouse/internal/store/redis"
)

const usage = `gatehouse: a Backend-for-Frontend gateway

Usage:
  gatehouse [-config FILE] [-log-level LEVEL] [-log-format json|text]
                                                 run the gateway
  gatehouse validate [-config FILE]              check FILE; print FILE:LINE:COL: message per problem
  gatehouse healthcheck [-url URL]               exit 0 when URL answers 200 (container health checks;
                                                 the image has no shell or curl)
  gatehouse version                              print the version, VCS revision, build date and Go
                                                 version (also: gatehouse -version)

Flags:
`

// Main runs the command line in args (without the program name) and returns
// the process exit code: 0 success, 1 an invalid config or a failed run,
// 2 a usage error.
func Main(args []string, stdout, stderr io.Writer) int {
	cmd := "run"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	fs := flag.NewFlagSet("gatehouse", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
	}
	configPath := fs.String("config", "routes.yaml", "the routes.yaml to load")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn or error")
	logFormat := fs.String("log-format", "json", "log format: json (one object a line) or text (key=value, for people)")
	cpuProfile := fs.String("cpuprofile", "", "run: write a CPU profile to this file until shutdown (for performance work)")
	healthURL := fs.String("url", "http://127.0.0.1:8080/readyz", "healthcheck: the URL to probe")
	showVersion := fs.Bool("version", false, "print the version and exit (as gatehouse version does)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "gatehouse: unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return 2
	}
	if *showVersion {
		cmd = "version"
	}
	switch cmd {
	case "version":
		fmt.Fprintln(stdout, buildinfo.Get())
		return 0
	case "validate":
		return validate(*configPath, stdout, stderr)
	case "healthcheck":
		return healthcheck(*healthURL, stderr)
	case "run":
		var level slog.Level
		if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
			fmt.Fprintf(stderr, "gatehouse: -log-level %q: want debug, info, warn or error\n", *logLevel)
			return 2
		}
		logger, err := NewLogger(stdout, level, *logFormat)
		if err != nil {
			fmt.Fprintf(stderr, "gatehouse: %v\n", err)
			return 2
		}
		redisstore.SetLogger(logger) // go-redis's own messages as JSON log lines too
		if *cpuProfile != "" {
			f, err := os.Create(*cpuProfile)
			if err != nil {
				fmt.Fprintf(stderr, "gatehouse: -cpuprofile: %v\n", err)
				return 2
			}
			defer f.Close()
			if err := pprof.StartCPUProfile(f); err != nil {
				fmt.Fprintf(stderr, "gatehouse: -cpuprofile: %v\n", err)
				return 2
			}
			defer pprof.StopCPUProfile()
		}
		return run(*configPath, logger, stderr)
	default:
		fmt.Fprintf(stderr, "gatehouse: unknown command %q\n", cmd)
		fs.Usage()
		return 2
	}
}

// NewLogger is the gateway's logger on w: format "json" (one object a line)
// or "text" (key=value, for people), with every duration in seconds (a
// number: a request's "duration", "retry_in", "deadline", "took"), as the
// metrics count them. The demo (examples/demo) logs through it too.
func NewLogger(w io.Writer, level slog.Leveler, format string) (*slog.Logger, error) {
	opts := &slog.HandlerOptions{Level: level, ReplaceAttr: durationsInSeconds}
	switch format {
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("-log-format %q: want json or text", format)
}

// durationsInSeconds is a slog ReplaceAttr: a duration becomes its seconds.
func durationsInSeconds(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		a.Value = slog.Float64Value(a.Value.Duration().Seconds())
	}
	return a
}

func validate(path string, stdout, stderr io.Writer) int {
	cfg, err := server.Check(path)
	if err != nil {
		printProblems(stderr, err)
		return 1
	}
	fmt.Fprintf(stdout, "%s: ok (%d routes)\n", path, len(cfg.Routes))
	return 0
}

// printProblems prints one problem per line, in FILE:LINE:COL: message form.
func printProblems(w io.Writer, err error) {
	fmt.Fprintln(w, strings.TrimRight(err.Error(), "\n"))
}

func run(path string, logger *slog.Logger, stderr io.Writer) int {
	cfg, err := server.Check(path)
	if err != nil {
		printProblems(stderr, err)
		fmt.Fprintln(stderr, "gatehouse: not starting: the config is invalid")
		return 1
	}
	srv, err := server.New(cfg, server.Options{Logger: logger})
	if err != nil {
		printProblems(stderr, err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	addr, serve, err := srv.Listen()
	if err != nil {
		logger.Error("cannot listen, not starting", "error", err)
		_ = srv.Shutdown(context.Background())
		return 1
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- serve() }()
	bi := buildinfo.Get()
	// The PID is the one to signal (kill -HUP reloads): under `go run` it is
	// the child's, not the go command's. listen is the address bound, with
	// the port the system chose for "host:0".
	logger.Info("gatehouse listening", "listen", addr.String(), "public_url", cfg.Server.PublicURL.String(),
		"routes", len(cfg.Routes), "pid", os.Getpid(), "version", bi.Version, "revision", bi.Revision,
		"go", bi.GoVersion)

wait:
	for {
		select {
		case err := <-serveErr:
			if err != nil {
				logger.Error("server stopped", "error", err)
				_ = srv.Shutdown(context.Background())
				return 1
			}
			return 0
		case <-hup:
			_ = reload(path, srv, logger)
		case <-ctx.Done():
			break wait
		}
	}
	stop() // a second signal kills the process at once
	logger.Info("shutting down", "deadline", cfg.Server.ShutdownTimeout.D())
	sctx, cancel := context.WithTimeout(context.Background(), cfg.Server.ShutdownTimeout.D())
	defer cancel()
	start := time.Now()
	if err := srv.Shutdown(sctx); err != nil {
		logger.Error("shutdown did not finish in time", "error", err)
		return 1
	}
	logger.Info("stopped", "took", time.Since(start))
	return 0
}

// reload re-reads the config at path and swaps in its routes (on SIGHUP).
// A config with any problem, or one that changes a setting only a restart
// applies, is refused whole: the running routes stay, and the problems are
// logged one per line.
//
// It also re-reads server.tls's certificate files (their poll would see a
// renewal within seconds anyway); a pair that fails to load is logged and
// the running certificate stays, whatever becomes of the config.
func reload(path string, srv *server.Server, logger *slog.Logger) error {
	if err := srv.ReloadCertificates(); err != nil {
		logger.Error("tls certificate reload refused, the running certificate stays", "error", err)
	}
	cfg, err := server.Check(path)
	if err == nil {
		err = srv.Reload(cfg)
	}
	if err != nil {
		logger.Error("reload refused, the running config stays",
			"problems", strings.Split(strings.TrimRight(err.Error(), "\n"), "\n"))
		return err
	}
	logger.Info("config reloaded", "routes", len(cfg.Routes))
	return nil
}

// healthcheck probes url once with a short timeout: exit 0 on 200, else 1.
//
// An https URL on a loopback address (a container probing its own
// server.tls listener) is probed without verifying the certificate, which
// names the public host, not 127.0.0.1: the probe asks whether this process
// answers, and nothing crosses a network. Redirects are not followed then.
func healthcheck(url string, stderr io.Writer) int {
	client := &http.Client{Timeout: 3 * time.Second}
	if loopbackHTTPS(url) {
		client.Transport = &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}
		client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	}
	resp, err := client.Get(url)
	if err != nil {
		fmt.Fprintf(stderr, "gatehouse: healthcheck: %v\n", err)
		return 1
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(stderr, "gatehouse: healthcheck: %s answered %d\n", url, resp.StatusCode)
		return 1
	}
	return 0
}

// loopbackHTTPS reports whether rawURL is https to a loopback IP address or
// to localhost.
func loopbackHTTPS(rawURL string) bool {
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme != "https" {
		return false
	}
	host := u.Hostname()
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}
