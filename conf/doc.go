// Package conf holds the configuration types a gatehouse plugin names: its
// raw YAML block (PluginConfig), decoded strictly with positioned errors
// (Decode, DecodeAll and Problems, ErrorAt, Error and ErrorList), and the
// value types of routes.yaml (Duration, "30s"; ByteSize, "10MB"; Position).
//
// It is public so that a plugin in another module compiles: the gateway's
// own config loader (internal/config) uses these very types, under aliases,
// and decodes the whole file with the same Decoder, so a plugin's block
// follows the rules of the rest of the file (unknown keys, "did you mean",
// duplicate keys, FILE:LINE:COL messages).
//
// A plugin declares its block as a struct with yaml tags, sets its defaults,
// then decodes:
//
//	type Config struct {
//		Rate int           `yaml:"rate"`
//		Per  conf.Duration `yaml:"per"`
//		Max  conf.ByteSize `yaml:"max"`
//	}
//
//	cfg := Config{Per: conf.Duration(time.Second)}
//	ps := spec.Config.DecodeAll(&cfg)
//	if cfg.Rate < 1 {
//		ps.At(&cfg.Rate, "rate", "rate must be >= 1, got %d", cfg.Rate)
//	}
//	if err := ps.Err(); err != nil {
//		return nil, err // routes.yaml:14:9: route "orders": plugin x: rate must be >= 1, got 0
//	}
package conf
