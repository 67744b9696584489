package conf

import "testing"

func TestByteSize(t *testing.T) {
	tests := []struct {
		in   string
		want ByteSize
		err  bool
	}{
		{in: "1024", want: 1024},
		{in: "0", want: 0},
		{in: "512KB", want: 512 << 10},
		{in: "10MB", want: 10 << 20},
		{in: "10 mb", want: 10 << 20},
		{in: "1GB", want: 1 << 30},
		{in: "2GiB", want: 2 << 30},
		{in: "1TB", want: 1 << 40},
		{in: "7B", want: 7},
		{in: "10XB", err: true},
		{in: "MB", err: true},
		{in: "-1MB", err: true},
		{in: "1.5MB", err: true},
		{in: "99999999999TB", err: true},
		{in: "", err: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseByteSize(tt.in)
			if (err != nil) != tt.err || got != tt.want {
				t.Errorf("parseByteSize(%q) = %d, %v; want %d, error %v", tt.in, got, err, tt.want, tt.err)
			}
			if err == nil {
				back, err := parseByteSize(got.String())
				if err != nil || back != got {
					t.Errorf("parseByteSize(%q.String() = %q) = %d, %v; want %d", tt.in, got.String(), back, err, got)
				}
			}
		})
	}
}
