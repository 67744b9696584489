package conf

import (
	"errors"
	"testing"
)

func TestErrorFormat(t *testing.T) {
	tests := []struct {
		e    Error
		want string
	}{
		{Error{"r.yaml", 3, 7, "bad"}, "r.yaml:3:7: bad"},
		{Error{"r.yaml", 3, 0, "bad"}, "r.yaml:3: bad"},
		{Error{"r.yaml", 0, 0, "bad"}, "r.yaml: bad"},
		{Error{"", 0, 0, "bad"}, "bad"},
	}
	for _, tt := range tests {
		if got := tt.e.Error(); got != tt.want {
			t.Errorf("%#v.Error() = %q, want %q", tt.e, got, tt.want)
		}
	}
}

func TestErrorList(t *testing.T) {
	var l ErrorList
	if err := l.Err(); err != nil {
		t.Errorf("empty ErrorList.Err() = %v, want nil", err)
	}
	l = l.Append("r.yaml", nil)
	l = l.Append("r.yaml", Error{"r.yaml", 9, 1, "late"})
	l = l.Append("r.yaml", ErrorList{{"r.yaml", 2, 5, "b"}, {"r.yaml", 2, 5, "a"}})
	l = l.Append("r.yaml", errors.New("plain"))
	l = l.Append("r.yaml", &Error{"r.yaml", 2, 1, "pointer"})
	want := "r.yaml: plain\nr.yaml:2:1: pointer\nr.yaml:2:5: b\nr.yaml:2:5: a\nr.yaml:9:1: late"
	err := l.Err()
	if err == nil || err.Error() != want {
		t.Fatalf("ErrorList.Err() =\n%v\nwant\n%s", err, want)
	}
	var e *Error
	if !errors.As(err, &e) || e.Msg != "plain" {
		t.Errorf("errors.As(list, **Error) = %v, want the first problem", e)
	}
}
