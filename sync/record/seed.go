package record

import (
	"strings"

	"github.com/futian-xiaomo/villagesync/schema"
	"github.com/futian-xiaomo/villagesync/sync/hlc"
	"github.com/futian-xiaomo/villagesync/sync/vv"
)

// SeedReplica writes the seed records: it is the server's replica number.
const SeedReplica = schema.SeedReplica

// seedHLC is the fixed time of the seed writes (schema.SeedTime), so every
// database holds byte-identical seed records without syncing them.
var seedHLC = hlc.FromTime(schema.SeedTime)

// Seeds returns the records every database starts with: the villages.
// Both ends insert them at creation, with fixed ids and dots, so they are
// already in sync; staff edits to them sync like any other write.
func Seeds() []*Record {
	var out []*Record
	d := vv.Dot{Replica: SeedReplica, Counter: 1, HLC: seedHLC}
	for _, v := range schema.SeedVillages {
		f := map[string]Field{
			"name":   {Value: schema.TextValue(v.Name), Dot: d},
			"pinyin": {Value: schema.TextValue(v.Pinyin), Dot: d},
		}
		if len(v.Aliases) > 0 {
			f["aliases"] = Field{Value: schema.TextValue(strings.Join(v.Aliases, ",")), Dot: d}
		}
		out = append(out, &Record{Table: schema.VillageTable, ID: schema.SeedVillageID(v.Name),
			Version: vv.VV{SeedReplica: 1}, Fields: f})
	}
	return out
}

// VillagesFrom builds a village resolver from villages records.
func VillagesFrom(recs []*Record) *schema.Villages {
	v := schema.NewVillages()
	for _, r := range recs {
		if r.Deleted() {
			continue
		}
		var aliases []string
		if a := r.Fields["aliases"].Value.Text; a != "" {
			aliases = strings.Split(a, ",")
		}
		v.Add(r.Fields["name"].Value.Text, r.Fields["pinyin"].Value.Text, aliases...)
	}
	return v
}
