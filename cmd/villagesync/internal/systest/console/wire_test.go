package console

import (
	"fmt"
	"net/url"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	_ "github.com/futian-xiaomo/villagesync/api/gen/villagesync/v1" // registers the messages
)

// procedure is the Connect procedure an exchange called
// ("villagesync.v1.AccessService/Enroll"), or "" for any other request.
func (x exchange) procedure() string {
	u, err := url.Parse(x.URL)
	if err != nil || x.Method != "POST" || !strings.HasPrefix(u.Path, "/villagesync.v1.") {
		return ""
	}
	return strings.TrimPrefix(u.Path, "/")
}

// rpcMessages decodes a Connect exchange's request and response with the
// generated types; resp is nil for a refused call (its body is a JSON
// error).
func (x exchange) rpcMessages() (req, resp proto.Message, err error) {
	proc := x.procedure()
	service, method, ok := strings.Cut(proc, "/")
	if !ok {
		return nil, nil, fmt.Errorf("%s %s is not a Connect call", x.Method, x.URL)
	}
	desc, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(service))
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", proc, err)
	}
	sd, ok := desc.(protoreflect.ServiceDescriptor)
	if !ok {
		return nil, nil, fmt.Errorf("%s is not a service", service)
	}
	md := sd.Methods().ByName(protoreflect.Name(method))
	if md == nil {
		return nil, nil, fmt.Errorf("%s: no such method", proc)
	}
	decode := func(d protoreflect.MessageDescriptor, body []byte, mime string) (proto.Message, error) {
		mt, err := protoregistry.GlobalTypes.FindMessageByName(d.FullName())
		if err != nil {
			return nil, err
		}
		m := mt.New().Interface()
		if strings.Contains(mime, "json") {
			err = protojson.Unmarshal(body, m)
		} else {
			err = proto.Unmarshal(body, m)
		}
		return m, err
	}
	reqMIME := x.ReqHeaders["Content-Type"]
	if reqMIME == nil {
		reqMIME = x.ReqHeaders["content-type"]
	}
	if req, err = decode(md.Input(), x.PostData, fmt.Sprint(reqMIME)); err != nil {
		return nil, nil, fmt.Errorf("%s request: %w", proc, err)
	}
	if x.Status != 200 {
		return req, nil, nil
	}
	if resp, err = decode(md.Output(), x.Body, x.MIME); err != nil {
		return nil, nil, fmt.Errorf("%s response (%s, %d bytes): %w", proc, x.MIME, len(x.Body), err)
	}
	return req, resp, nil
}

// header is a request header of the exchange, whatever its case.
func (x exchange) header(name string) string {
	for k, v := range x.ReqHeaders {
		if strings.EqualFold(k, name) {
			return fmt.Sprint(v)
		}
	}
	return ""
}

// strings calls fn with every string field of m, however deep, with the
// field's name.
func walkStrings(m protoreflect.Message, fn func(field, value string)) {
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsList():
			l := v.List()
			for i := range l.Len() {
				walkValue(fd, l.Get(i), fn)
			}
		case fd.IsMap():
			v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
				fn(string(fd.Name())+".key", k.String())
				walkValue(fd.MapValue(), mv, fn)
				return true
			})
		default:
			walkValue(fd, v, fn)
		}
		return true
	})
}

func walkValue(fd protoreflect.FieldDescriptor, v protoreflect.Value, fn func(field, value string)) {
	switch fd.Kind() {
	case protoreflect.StringKind:
		fn(string(fd.Name()), v.String())
	case protoreflect.MessageKind, protoreflect.GroupKind:
		walkStrings(v.Message(), fn)
	}
}
