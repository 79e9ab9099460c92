package reportfmt

import (
	"fmt"

	"github.com/futian-xiaomo/villagesync/schema"
)

// Lang is the language of headers and labels.
type Lang string

const (
	ZH Lang = "zh"
	EN Lang = "en"
)

// ParseLang accepts zh or en.
func ParseLang(s string) (Lang, error) {
	switch l := Lang(s); l {
	case ZH, EN:
		return l, nil
	}
	return "", fmt.Errorf("lang: %q is not zh or en", s)
}

// text is one label in both languages.
type text struct{ zh, en string }

func (t text) in(l Lang) string {
	if l == EN {
		return t.en
	}
	return t.zh
}

var (
	hVillage    = text{"村", "village"}
	hMonth      = text{"月份", "month"}
	hSessions   = text{"课堂次数", "sessions"}
	hAttendance = text{"学生出勤人次", "student attendances"}
	hVolunteers = text{"志愿者人数", "volunteers"}
	hRevised    = text{"修订时间", "revised at"}

	hReported = text{"上报", "reported"}
	hDone     = text{"完成", "done"}
	hChecked  = text{"验收", "checked"}
	hQuantity = text{"工作量", "quantity"}

	hMade      = text{"借出", "loans made"}
	hReturned  = text{"归还", "returned"}
	hOpen      = text{"在借", "open"}
	hOverdue   = text{"逾期", "overdue"}
	hBorrowers = text{"借阅人数", "borrowers"}

	lTotal       = text{"合计", "total"}
	lAllVillages = text{"全部村", "all villages"}
	lNever       = text{"从未", "never"}

	lReportSheet    = text{"报表", "Report"}
	lFreshnessSheet = text{"数据新鲜度", "Freshness"}
	lPeriod         = text{"期间", "period"}
	lGenerated      = text{"生成时间", "generated at"}
	lFeedSeq        = text{"服务器变更序号", "server feed position"}
	lDevice         = text{"设备", "device"}
	lLastSeen       = text{"最后同步", "last synced"}
	lOpenConflicts  = text{"待处理冲突", "open conflicts"}
	lNone           = text{"无", "none"}
	lKind           = text{"类别", "kind"}
	lCount          = text{"数量", "count"}
	lFreshNote      = text{
		"说明：设备最后同步时间由服务器在下次上传时记录；尚未同步的设备上的记录不在报表中。标有修订时间的月份，其数字在首次报告后发生了变化。",
		"Note: a device's last sync is written down by the server with its next upload; " +
			"records on devices that have not synced are not counted. " +
			"A month with a revision time changed after it was first reported.",
	}
)

// lUnknownBook groups loans whose book is not on the server (the words of
// real kinds and libraries are schema's: schema.ValueName).
var lUnknownBook = text{"未知图书", "unknown book"}

// valueName is an enumeration value in words (schema.ValueName), and the
// report's own group of loans without a book.
func valueName(code string, l Lang) string {
	if code == "unknown" {
		return lUnknownBook.in(l)
	}
	return schema.ValueName(schema.Lang(l), code)
}

var conflictKinds = map[string]text{
	"field":             {"同一字段并发修改", "same field edited concurrently"},
	"delete_vs_edit":    {"删除与修改冲突", "delete vs edit"},
	"double_loan":       {"同一本书重复借出", "copy lent twice"},
	"duplicate_session": {"疑似重复课堂", "probable duplicate session"},
}

// name looks a code up in a label table, falling back to the code.
func name(m map[string]text, code string, l Lang) string {
	if t, ok := m[code]; ok {
		return t.in(l)
	}
	return code
}

// header joins a group (a cleanup kind, a library) and a figure.
func header(group string, figure text, l Lang) string {
	if l == EN {
		return group + ": " + figure.en
	}
	return group + "·" + figure.zh
}
