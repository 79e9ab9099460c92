package demo

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/futian-xiaomo/villagesync/clients/go/replica"
	"github.com/futian-xiaomo/villagesync/schema"
)

// The season the demo replays: the figures of the Futian district's
// account of the 7pm classroom (section 二(一) of its 2024 reply).
const (
	SeasonSessions    = 65
	SeasonAttendances = 1950
)

// plannedSession is one evening class of the season.
type plannedSession struct {
	village, date, class, volunteers, subjects string
	children                                   int
}

// seasonPlan lays out 65 evening classes over March to July 2024 in the
// three villages, with children counts that add up to 1,950. It is fixed
// (seeded), so every run tells the same story.
func seasonPlan() []plannedSession {
	rng := rand.New(rand.NewPCG(2024, 7))
	villages := []string{"南香村", "东旺村", "旺渔村"}
	classes := []string{"一二年级", "三四年级", "五六年级"}
	subjects := []string{"数学", "语文", "英语", "数学,语文", "科学"}
	volunteers := []string{"李老师,王同学", "陈老师", "张同学,刘同学", "黄老师,周同学", "吴老师"}
	day := time.Date(2024, 3, 4, 0, 0, 0, 0, time.UTC)
	var plan []plannedSession
	total := 0
	for i := range SeasonSessions {
		children := 22 + rng.IntN(17) // 22..38 children an evening
		if i == SeasonSessions-1 {
			children = SeasonAttendances - total // the last class makes the season's figure exact
		}
		total += children
		plan = append(plan, plannedSession{
			village:    villages[i%3],
			date:       day.AddDate(0, 0, (i/3)*6+i%3).Format(time.DateOnly),
			class:      classes[rng.IntN(len(classes))],
			volunteers: volunteers[rng.IntN(len(volunteers))],
			subjects:   subjects[rng.IntN(len(subjects))],
			children:   children,
		})
	}
	return plan
}

// season replays the plan on a volunteer device per village and a town
// staff device, all offline most of the time, with the field's usual
// accidents: a class logged twice, two edits of one record at once, one
// book copy lent twice.
func season(ctx context.Context, say func(string, ...any), vols []*replica.Replica, staffDev *replica.Replica) error {
	rng := rand.New(rand.NewPCG(65, 1950))
	put := func(d *replica.Replica, table, id string, kv ...any) (string, error) {
		vals, err := schema.Fields(kv...)
		if err != nil {
			return "", err
		}
		return d.Put(ctx, table, id, vals)
	}
	sync := func(d *replica.Replica) error {
		if _, err := d.Sync(ctx); err != nil {
			return fmt.Errorf("%s: %w", d.Name(), err)
		}
		return nil
	}
	syncs := 0
	plan := seasonPlan()
	var logged []string
	for i, p := range plan {
		d := vols[i%3]
		children := p.children
		if i == 10 {
			children += 2 // miscounted at first; corrected below
		}
		id, err := put(d, "tutoring_sessions", "", "village", p.village, "session_date", p.date, "start_time", "19:00",
			"class_group", p.class, "volunteers", p.volunteers, "subjects", p.subjects, "children_present", children)
		if err != nil {
			return err
		}
		logged = append(logged, id)
		// Signal comes and goes: a device reaches the server about one
		// evening in four.
		if rng.IntN(4) == 0 {
			if err := sync(d); err != nil {
				return err
			}
			syncs++
		}
	}
	for _, d := range append(vols, staffDev) {
		if err := sync(d); err != nil {
			return err
		}
		syncs++
	}
	say("   %d classes logged offline on %d volunteer phones, %d syncs when in range", len(plan), len(vols), syncs)

	// The same evening logged again by town staff from the paper sign-in sheet.
	dup := plan[20]
	if _, err := put(staffDev, "tutoring_sessions", "", "village", dup.village, "session_date", dup.date,
		"start_time", "19:00", "class_group", dup.class, "volunteers", dup.volunteers,
		"subjects", dup.subjects, "children_present", dup.children); err != nil {
		return err
	}
	say("   town staff logs the %s %s class again from the paper sheet (a duplicate)", dup.village, dup.date)

	// Two edits of one session at once: the volunteer corrects the head
	// count, staff fix the subjects (different fields); both add a note
	// (the same field).
	v, s := vols[10%3], staffDev
	if _, err := put(v, "tutoring_sessions", logged[10], "children_present", plan[10].children,
		"notes", "人数更正"); err != nil {
		return err
	}
	if _, err := put(s, "tutoring_sessions", logged[10], "subjects", "数学,英语", "notes", "已核对签到表"); err != nil {
		return err
	}
	say("   %s corrects a head count while staff fix the subjects; both write a note", v.Name())

	// The children's library: one copy lent to two cards on two phones.
	book, err := put(vols[0], "books", "", "village", "南香村", "library", "children", "copy_no", 1,
		"title", "小王子", "author", "圣埃克苏佩里", "isbn", "978-7-02-004237-1")
	if err != nil {
		return err
	}
	if err := sync(vols[0]); err != nil {
		return err
	}
	if err := sync(staffDev); err != nil {
		return err
	}
	if _, err := put(vols[0], "loans", "", "village", "南香村", "book_id", book, "borrower_card", "NX-017",
		"lent_on", "2024-06-03", "due_on", "2024-06-17"); err != nil {
		return err
	}
	if _, err := put(staffDev, "loans", "", "village", "南香村", "book_id", book, "borrower_card", "NX-022",
		"lent_on", "2024-06-04", "due_on", "2024-06-18"); err != nil {
		return err
	}
	say("   the same copy of 小王子 is lent to card NX-017 on one phone and NX-022 on another")

	// Cleanup: a street-sweeping routine, moved along on two devices at once.
	task, err := put(vols[1], "cleanup_tasks", "", "village", "东旺村", "kind", "street_sweeping",
		"place", "村口大街", "status", "reported",
		"reported_at", "2024-05-06T08:00:00+08:00", "routine", "每周清扫村口大街", "crew_size", 6)
	if err != nil {
		return err
	}
	if err := sync(vols[1]); err != nil {
		return err
	}
	if err := sync(staffDev); err != nil {
		return err
	}
	if _, err := put(vols[1], "cleanup_tasks", task, "status", "done", "finished_at", "2024-05-06T11:00:00+08:00",
		"quantity", 1.2, "unit", "公里"); err != nil {
		return err
	}
	if _, err := put(staffDev, "cleanup_tasks", task, "status", "in_progress"); err != nil {
		return err
	}
	say("   a street-sweeping task is marked done on one phone and in progress on another")

	// The party-members' library: a copy is written off on one phone while
	// staff add a note to it on another.
	old, err := put(vols[2], "books", "", "village", "旺渔村", "library", "party_villagers", "copy_no", 2, "title", "乡村振兴读本")
	if err != nil {
		return err
	}
	if err := sync(vols[2]); err != nil {
		return err
	}
	if err := sync(staffDev); err != nil {
		return err
	}
	if err := vols[2].Delete(ctx, "books", old); err != nil {
		return err
	}
	if _, err := put(staffDev, "books", old, "notes", "封面破损，待修补"); err != nil {
		return err
	}
	say("   a worn copy of 乡村振兴读本 is deleted on one phone while staff note its repair on another")

	// Back in range: everyone syncs until nothing moves.
	for round := 0; round < 5; round++ {
		moved := 0
		for _, d := range append(vols, staffDev) {
			st, err := d.Sync(ctx)
			if err != nil {
				return fmt.Errorf("%s: %w", d.Name(), err)
			}
			moved += st.Pushed + st.Pulled
		}
		if moved == 0 {
			return nil
		}
	}
	return fmt.Errorf("the season did not settle")
}
