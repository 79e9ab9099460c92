package schema

// The words people see for the enumerations' values (a cleanup task's
// kind and status, a book's library), in both languages: the report's
// files, the web console and the volunteer app say them the same, from
// here (the TypeScript gets them through schema.gen.ts).
var valueNames = map[string][2]string{
	"construction_waste": {"建筑垃圾清运", "construction waste"},
	"road_levelling":     {"道路平整", "road levelling"},
	"street_sweeping":    {"街道清扫", "street sweeping"},
	"other":              {"其他整治", "other cleanup"},
	"reported":           {"已上报", "reported"},
	"in_progress":        {"进行中", "in progress"},
	"done":               {"已完成", "done"},
	"checked":            {"已验收", "checked"},
	"party_villagers":    {"党群图书馆", "party & villagers library"},
	"children":           {"小学少儿图书馆", "children's library"},
}

// ValueName is an enumeration value in words, in l; a value without
// words is itself.
func ValueName(l Lang, value string) string {
	n, ok := valueNames[value]
	switch {
	case !ok:
		return value
	case l == ZH:
		return n[0]
	default:
		return n[1]
	}
}

// ValueNames are the words of every enumeration value: value → language
// → words.
func ValueNames() map[string]map[Lang]string {
	out := map[string]map[Lang]string{}
	for v, n := range valueNames {
		out[v] = map[Lang]string{ZH: n[0], EN: n[1]}
	}
	return out
}
