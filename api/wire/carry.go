package wire

import (
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"errors"
	"fmt"
	"io"

	"golang.org/x/crypto/nacl/box"
	"google.golang.org/protobuf/proto"

	v1 "github.com/futian-xiaomo/villagesync/api/gen/villagesync/v1"
	"github.com/futian-xiaomo/villagesync/schema"
)

// Hand-carried files (api/villagesync/v1/carry.proto): a CarriedFile,
// gzip-compressed, its payload (a CarriedPush or CarriedPull, protobuf,
// gzip-compressed too) sealed with NaCl box between a device's key pair
// and the server's. NaCl box because it is exactly what a carried
// file needs and no more: authenticated public-key encryption (X25519,
// XSalsa20-Poly1305), so only the addressee opens the file and opening it
// proves the other key's holder made it, unaltered; golang.org/x/crypto
// keeps the Go side, and tweetnacl (audited, the same construction byte
// for byte) the browser's. age would need a signature scheme on top for
// the sender's proof, and a second format for the browser.
const (
	CarriedMagic  = "villagesync-carried"
	CarriedFormat = 1
	// MaxCarriedBytes bounds a carried file as it travels (compressed) and
	// maxCarriedInflated what it may inflate to: 200 records are well under
	// 100 KB, a season's backlog a few MB.
	MaxCarriedBytes = 8 << 20
	// MaxCarriedOuterInflated bounds what a file's outer layer may inflate
	// to: it holds the sealed payload (compressed already, so it does not
	// shrink) and a few small fields. It is read before the seal is
	// checked, by anyone's file: a small bomb must not make the server (or
	// a browser) inflate 64 MB for it.
	MaxCarriedOuterInflated = MaxCarriedBytes + 4<<10
	maxCarriedInflated      = 64 << 20
	// BoxKeySize is the size of a box public or private key.
	BoxKeySize = 32
)

// BoxKeys is a NaCl box key pair. The private half never leaves the
// device (or the server) that made it.
type BoxKeys struct {
	Public, Private *[BoxKeySize]byte
}

// NewBoxKeys makes a key pair from the system's randomness.
func NewBoxKeys() (BoxKeys, error) {
	pub, priv, err := box.GenerateKey(rand.Reader)
	if err != nil {
		return BoxKeys{}, fmt.Errorf("make a box key pair: %w", err)
	}
	return BoxKeys{Public: pub, Private: priv}, nil
}

// BoxKey reads a public key sent on the wire; nil for an empty one.
func BoxKey(b []byte) (*[BoxKeySize]byte, error) {
	if len(b) == 0 {
		return nil, nil
	}
	if len(b) != BoxKeySize {
		return nil, schema.Messagef("a box public key is %d bytes, not %d", BoxKeySize, len(b))
	}
	var k [BoxKeySize]byte
	copy(k[:], b)
	return &k, nil
}

// The refusals of a carried file, each a sentence saying what to do.
var (
	ErrCarriedDamaged = schema.Messagef("the file is damaged or was changed on the way (it fails its seal): " +
		"make it again on the device and carry the new one")
)

// SealPush makes a push file of p, from the device's keys for the server's
// public key.
func SealPush(p *v1.CarriedPush, device BoxKeys, serverPub *[BoxKeySize]byte) ([]byte, error) {
	p.Kind, p.Format = v1.CarriedKind_CARRIED_KIND_PUSH, CarriedFormat
	return seal(p, &v1.CarriedFile{Kind: p.Kind, ServerId: p.ServerId, Replica: p.Replica, MadeAtMs: p.MadeAtMs},
		device.Private, serverPub)
}

// SealPull makes a pull file of p, from the server's keys for the device's
// public key.
func SealPull(p *v1.CarriedPull, server BoxKeys, devicePub *[BoxKeySize]byte) ([]byte, error) {
	p.Kind, p.Format = v1.CarriedKind_CARRIED_KIND_PULL, CarriedFormat
	return seal(p, &v1.CarriedFile{Kind: p.Kind, ServerId: p.ServerId, Replica: p.Replica, MadeAtMs: p.MadeAtMs},
		server.Private, devicePub)
}

func seal(payload proto.Message, f *v1.CarriedFile, priv, peer *[BoxKeySize]byte) ([]byte, error) {
	if priv == nil || peer == nil {
		return nil, errors.New("seal a carried file: a key is missing")
	}
	raw, err := proto.Marshal(payload)
	if err != nil {
		return nil, fmt.Errorf("seal a carried file: %w", err)
	}
	// Compressed before it is sealed: sealed bytes do not compress, so the
	// outer gzip alone left a file of 200 records at its raw size. (No
	// oracle here for a compression attack: nobody sees the size of files
	// made from their own guesses mixed with secrets.)
	plain, err := gzipped(raw)
	if err != nil {
		return nil, fmt.Errorf("seal a carried file: %w", err)
	}
	var nonce [24]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return nil, fmt.Errorf("seal a carried file: %w", err)
	}
	f.Magic, f.Format, f.Nonce = CarriedMagic, CarriedFormat, nonce[:]
	f.Sealed = box.Seal(nil, plain, &nonce, peer, priv)
	outer, err := proto.Marshal(f)
	if err != nil {
		return nil, fmt.Errorf("seal a carried file: %w", err)
	}
	file, err := gzipped(outer)
	if err != nil {
		return nil, fmt.Errorf("seal a carried file: %w", err)
	}
	return file, nil
}

func gzipped(raw []byte) ([]byte, error) {
	var out bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&out, gzip.BestCompression)
	if _, err := zw.Write(raw); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// gunzipped inflates at most limit bytes; ok is false for a stream that
// does not read through or inflates past it.
func gunzipped(b []byte, limit int) ([]byte, bool) {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, false
	}
	raw, err := io.ReadAll(io.LimitReader(zr, int64(limit)+1))
	if err != nil || len(raw) > limit {
		return nil, false
	}
	return raw, true
}

// ReadCarried reads a carried file's outer layer, so a reader can say
// what it is (whose, for which server) before it opens it. It refuses
// what is no carried file, a damaged one and a newer format.
func ReadCarried(file []byte) (*v1.CarriedFile, error) {
	if len(file) > MaxCarriedBytes {
		return nil, schema.Messagef("the file is %d bytes, more than a carried file's %d: "+
			"carry the device's changes in several files", len(file), MaxCarriedBytes)
	}
	if len(file) < 2 || file[0] != 0x1f || file[1] != 0x8b {
		return nil, schema.Messagef("the file is not a villagesync carried file (it is not gzip-compressed)")
	}
	raw, ok := gunzipped(file, MaxCarriedOuterInflated)
	if !ok {
		return nil, schema.Messagef("the file is truncated or damaged (its compression does not read through): " +
			"carry it again, or make it again on the device")
	}
	f := &v1.CarriedFile{}
	if err := proto.Unmarshal(raw, f); err != nil || f.Magic != CarriedMagic {
		return nil, schema.Messagef("the file is not a villagesync carried file")
	}
	if f.Format > CarriedFormat {
		return nil, schema.Messagef("the file is of a newer format (%d; this app reads %d): update the app",
			f.Format, CarriedFormat)
	}
	if len(f.Nonce) != 24 {
		return nil, ErrCarriedDamaged
	}
	return f, nil
}

// OpenPush opens a push file's payload with the server's keys and the
// public key of the device it names, and checks that the payload says
// what the outer layer says.
func OpenPush(f *v1.CarriedFile, server BoxKeys, devicePub *[BoxKeySize]byte) (*v1.CarriedPush, error) {
	p := &v1.CarriedPush{}
	if err := open(f, p, server.Private, devicePub); err != nil {
		return nil, err
	}
	if !sameHeader(f, p) || p.Request == nil || p.Request.Replica != p.Replica {
		return nil, ErrCarriedDamaged
	}
	return p, nil
}

// OpenPull opens a pull file's payload with the device's keys and the
// server's public key.
func OpenPull(f *v1.CarriedFile, device BoxKeys, serverPub *[BoxKeySize]byte) (*v1.CarriedPull, error) {
	p := &v1.CarriedPull{}
	if err := open(f, p, device.Private, serverPub); err != nil {
		return nil, err
	}
	if !sameHeader(f, p) {
		return nil, ErrCarriedDamaged
	}
	return p, nil
}

// header is what a payload repeats of its file's outer layer.
type header interface {
	GetKind() v1.CarriedKind
	GetFormat() uint32
	GetServerId() uint64
	GetReplica() uint32
	GetMadeAtMs() int64
}

// sameHeader says whether the sealed payload p says what the outer layer
// f says: one check for both kinds, so a field added to the header is
// compared for both.
func sameHeader(f *v1.CarriedFile, p header) bool {
	return p.GetKind() == f.GetKind() && p.GetFormat() == f.GetFormat() && p.GetServerId() == f.GetServerId() &&
		p.GetReplica() == f.GetReplica() && p.GetMadeAtMs() == f.GetMadeAtMs()
}

func open(f *v1.CarriedFile, into proto.Message, priv, peer *[BoxKeySize]byte) error {
	if priv == nil || peer == nil {
		return errors.New("open a carried file: a key is missing")
	}
	var nonce [24]byte
	copy(nonce[:], f.Nonce)
	sealedGzip, ok := box.Open(nil, f.Sealed, &nonce, peer, priv)
	if !ok {
		return ErrCarriedDamaged
	}
	// Opened, the payload is the other key's holder's: it may inflate to
	// a season's backlog.
	plain, ok := gunzipped(sealedGzip, maxCarriedInflated)
	if !ok {
		return ErrCarriedDamaged
	}
	if err := proto.Unmarshal(plain, into); err != nil {
		return ErrCarriedDamaged
	}
	return nil
}
