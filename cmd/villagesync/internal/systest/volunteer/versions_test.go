package volunteer

import (
	"fmt"
	"strings"
	"testing"
)

// A change to a column the server does not have yet (a server of the
// previous release, which states schema version 1) waits on the phone,
// said on the home screen; the first sync with an updated server sends it.
// The older server is made by the device's memory of it (meta
// server_schema), offline, so no answer of this server says otherwise.
func TestRealHeldBackUntilTheServerUpdates(t *testing.T) {
	s := realServer(t)
	p := enrolled(t, s)
	p.setOffline(true)
	p.logClass(12, "签到表拍了照")
	id := p.classIDs()[0]
	p.route("#/", "home")
	digest := strings.Repeat("5e", 32)
	p.inWorker("an older server", `self.onmessage({data: {id: 999995, op: "exec",
  sql: "INSERT OR REPLACE INTO meta (key, value) VALUES ('server_schema', '1')"}})`)
	p.inWorker("a photo of the sign-in sheet", fmt.Sprintf(`self.onmessage({data: {id: 999994, op: "edit",
  table: "tutoring_sessions", recordId: %q, fields: {sheet_photos: %q}, lang: "en"}})`, id, digest))
	p.WaitFor("the held line", `document.querySelector("[data-test=held-count]")?.dataset.count === "1"`)
	got := p.text("[data-test=held-count]")
	if !strings.Contains(got, "1 change waits for the server's update (server schema 1, this app 2)") &&
		!strings.Contains(got, "1 条改动等服务器更新后才能同步（服务器数据版本 1，本应用 2）") {
		t.Errorf("the home screen says %q; want that one change waits for the server's update", got)
	}
	p.screenshot("held-back")

	p.setOffline(false)
	p.syncUntil("the held change sent", `!document.querySelector("[data-test=held-count]") &&
  document.querySelector("[data-test=pending-count]")?.dataset.count === "0"`)
	s.waitHolds(t, "the photo's digest on the server",
		`SELECT count(*) FROM tutoring_sessions WHERE id = ? AND sheet_photos = ?`, id, digest)
}
