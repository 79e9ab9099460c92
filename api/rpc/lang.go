package rpc

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"

	"connectrpc.com/connect"
	"golang.org/x/text/language"

	v1 "github.com/futian-xiaomo/villagesync/api/gen/villagesync/v1"
	"github.com/futian-xiaomo/villagesync/schema"
	"github.com/futian-xiaomo/villagesync/sync/record"
)

// refuse is a refused call: its code, the request field at fault and what
// is wrong, as a *record.Problem, so Localize can name the field and say
// it in the caller's language.
func refuse(code connect.Code, field, format string, args ...any) *connect.Error {
	return connect.NewError(code, record.Problemf(record.Code(code.String()), field, format, args...))
}

// Language is the language an Accept-Language header prefers among those
// the server speaks: zh for "zh", "zh-CN", "zh-Hans;q=0.9,en;q=0.8"; en
// for "en", "*", an empty or unreadable header, or one naming neither.
// Tags are taken in the order of their weights; q=0 excludes one. A
// malformed header ("zh;q=abc", which the parser refuses whole for one
// bad entry; "zh,en;q=2", whose weight above 1 it takes and sorts by,
// though RFC 9110 allows 0 to 1) is read entry by entry instead, in the
// order written.
func Language(acceptLanguage string) schema.Lang {
	tags, weights, err := language.ParseAcceptLanguage(acceptLanguage)
	if err != nil || slices.ContainsFunc(weights, func(q float32) bool { return q > 1 }) {
		return looseLanguage(acceptLanguage)
	}
	for _, t := range tags {
		switch base, _ := t.Base(); base.String() {
		case "zh":
			return schema.ZH
		case "en":
			return schema.EN
		}
	}
	return schema.EN
}

// looseLanguage reads a malformed Accept-Language: each comma-separated
// entry's primary subtag, in order, skipping entries weighted q=0 (a
// weight that does not parse is no exclusion). The weights cannot be
// trusted to order the entries, but the language a person put first can.
func looseLanguage(header string) schema.Lang {
	for entry := range strings.SplitSeq(header, ",") {
		tag, params, _ := strings.Cut(entry, ";")
		excluded := false
		for p := range strings.SplitSeq(params, ";") {
			k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
			if q, err := strconv.ParseFloat(strings.TrimSpace(v), 64); ok && strings.EqualFold(strings.TrimSpace(k), "q") &&
				err == nil && q == 0 {
				excluded = true
			}
		}
		primary, _, _ := strings.Cut(strings.ReplaceAll(strings.TrimSpace(tag), "_", "-"), "-")
		switch strings.ToLower(primary) {
		case "zh":
			if !excluded {
				return schema.ZH
			}
		case "en":
			if !excluded {
				return schema.EN
			}
		}
	}
	return schema.EN
}

// Localize finishes every refused call whose error is a *record.Problem
// (all those a form can meet): it attaches a v1.ErrorDetail naming the
// request field at fault, so the web console can mark it, and says the
// message in the language of the request's Accept-Language (see Language).
// Without the header the message is the English it always was: the
// command line sends none. Put it outside the request log, which then
// logs the English.
func Localize() connect.UnaryInterceptorFunc {
	return func(next connect.UnaryFunc) connect.UnaryFunc {
		return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
			l := Language(req.Header().Get("Accept-Language"))
			resp, err := next(context.WithValue(ctx, langKey{}, l), req)
			if err != nil {
				err = localize(err, l)
			}
			return resp, err
		}
	}
}

type langKey struct{}

// requestLang is the language Localize read from the request (English
// when the call did not pass through it): for what a handler says in a
// successful answer, such as the reasons of refused changes in a sync.
func requestLang(ctx context.Context) schema.Lang {
	if l, ok := ctx.Value(langKey{}).(schema.Lang); ok {
		return l
	}
	return schema.EN
}

func localize(err error, l schema.Lang) error {
	var p *record.Problem
	var ce *connect.Error
	if !errors.As(err, &ce) || !errors.As(err, &p) {
		return err
	}
	out := ce
	// Only a problem that is the whole message is said again; one wrapped
	// in more words is left as it is.
	if l != schema.EN && ce.Message() == p.Error() {
		out = connect.NewError(ce.Code(), errors.New(p.In(l)))
		for k, vs := range ce.Meta() {
			for _, v := range vs {
				out.Meta().Add(k, v)
			}
		}
		for _, d := range ce.Details() {
			out.AddDetail(d)
		}
	}
	if p.Field != "" {
		if d, derr := connect.NewErrorDetail(&v1.ErrorDetail{Field: p.Field}); derr == nil {
			out.AddDetail(d)
		}
	}
	return out
}
