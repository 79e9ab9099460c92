package schema

import (
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
)

// SeedVillage is a village every database starts with.
type SeedVillage struct {
	Name, Pinyin string
	Aliases      []string
}

// SeedVillages are the three villages paired with Futian district. 旺鱼村
// is how one district document writes 旺渔村.
var SeedVillages = []SeedVillage{
	{"南香村", "Nanxiang", nil},
	{"东旺村", "Dongwang", nil},
	{"旺渔村", "Wangyu", []string{"旺鱼村"}},
}

// SeedReplica writes the seed records: the server's replica number.
const SeedReplica = 1

// SeedTime is the fixed time of the seed writes, so every database (the
// server, a Go device, a browser) holds identical seed records without
// syncing them.
var SeedTime = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// villageNamespace makes seeded village ids the same on every database.
var villageNamespace = uuid.MustParse("5d1f3b0e-7c1a-4c55-9f0e-6f1b2a9c0d11")

// SeedVillageID is the fixed record id of a seeded village.
func SeedVillageID(name string) string { return uuid.NewSHA1(villageNamespace, []byte(name)).String() }

// Villages resolves the ways people write a village to its canonical
// (Chinese) name, which is what records store.
type Villages struct {
	known  map[string]string // any spelling, lower-cased pinyin included -> canonical
	pinyin map[string]string // canonical -> pinyin
}

// NewVillages starts an empty resolver; Add fills it.
func NewVillages() *Villages {
	return &Villages{known: map[string]string{}, pinyin: map[string]string{}}
}

// Add registers a village with its pinyin and aliases.
func (v *Villages) Add(name, pinyin string, aliases ...string) {
	v.known[name] = name
	v.pinyin[name] = pinyin
	if pinyin != "" {
		v.known[strings.ToLower(pinyin)] = name
	}
	for _, a := range aliases {
		if a = strings.TrimSpace(a); a != "" {
			v.known[a] = name
			v.known[strings.ToLower(a)] = name
		}
	}
}

// Canonical resolves a spelling (Chinese name, alias or pinyin in any case).
func (v *Villages) Canonical(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if c, ok := v.known[s]; ok {
		return c, true
	}
	c, ok := v.known[strings.ToLower(s)]
	return c, ok
}

// Pinyin returns the pinyin of a canonical name.
func (v *Villages) Pinyin(name string) string { return v.pinyin[name] }

// Names lists the canonical names, sorted.
func (v *Villages) Names() []string {
	var out []string
	for n := range v.pinyin {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// Seeded returns a resolver holding only the seeded villages.
func Seeded() *Villages {
	v := NewVillages()
	for _, s := range SeedVillages {
		v.Add(s.Name, s.Pinyin, s.Aliases...)
	}
	return v
}
