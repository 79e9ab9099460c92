package replica

import (
	"errors"
	"fmt"
	"math"
	"testing"
	"time"

	"connectrpc.com/connect"
)

func TestRetryAfterIsBounded(t *testing.T) {
	tests := []struct {
		ms   string
		want time.Duration
		ok   bool
	}{
		{"250", 250 * time.Millisecond, true},
		{"60000", time.Minute, true},
		{"9223372036855", time.Minute, true}, // would overflow a Duration in ms
		{fmt.Sprint(int64(math.MaxInt64)), time.Minute, true},
		{"0", 0, false},
		{"-5", 0, false},
		{"soon", 0, false},
		{"", 0, false},
	}
	for _, tt := range tests {
		err := connect.NewError(connect.CodeResourceExhausted, errors.New("rate"))
		err.Meta().Set("Retry-After-Ms", tt.ms)
		d, ok := retryAfter(err)
		if d != tt.want || ok != tt.ok {
			t.Errorf("Retry-After-Ms %q: %v %v, want %v %v", tt.ms, d, ok, tt.want, tt.ok)
		}
	}
	if _, ok := retryAfter(connect.NewError(connect.CodeUnavailable, errors.New("down"))); ok {
		t.Error("an unavailable server was taken for a rate limit")
	}
}
