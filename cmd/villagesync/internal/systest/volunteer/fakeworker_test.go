package volunteer

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/futian-xiaomo/villagesync/clients/web"
)

// fakeHandler serves the app with a stand-in for its database worker: an
// in-memory device that answers protocol.ts's device ops the way the real
// worker does, so the screens can be tested before (and apart from) the
// replica. offline makes every sync fail as with no signal, and seeds an
// old pending class and a refused change (the screens that warn).
func fakeHandler(offline bool) http.Handler {
	next := web.Handler()
	path := "/app/" + web.AppWorker()
	script := strings.Replace(fakeWorkerJS, "OFFLINE", fmt.Sprint(offline), 1)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == path {
			w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
			w.Header().Set("Cache-Control", "no-store")
			fmt.Fprint(w, script)
			return
		}
		next.ServeHTTP(w, r)
	})
}

const fakeWorkerJS = `
const offline = OFFLINE;
const day = 86400000;
let identity = null;
let n = 0;
const recs = new Map();
const st = { pending: 0, oldestPendingMs: 0, lastSyncMs: 0, lastAttemptMs: 0, lastError: "", offline: false, syncing: false, rejected: 0 };
let refused = [];
const put = (table, fields, pending, at) => {
  const id = table.slice(0, 1) + "-" + (++n);
  recs.set(table + "/" + id, { table, id, fields, pending, at });
  return id;
};
const books = [
  { village: "南香村", library: "children", title: "小王子", author: "圣埃克苏佩里", isbn: "9787020042494" },
  { village: "南香村", library: "party_villagers", title: "乡土中国", author: "费孝通", isbn: "9787101052039" },
];
for (const b of books) put("books", b, false, 0);
if (offline) {
  put("tutoring_sessions", { village: "南香村", session_date: "2026-11-27", start_time: "19:00", class_group: "三年级", children_present: "14", subjects: "数学", volunteers: "", notes: "" }, true, Date.now() - 4 * day);
  put("cleanup_tasks", { village: "南香村", kind: "street_sweeping", place: "村口", status: "done", quantity: "2", unit: "车", crew_size: "6", routine: "", notes: "" }, false, 0);
  refused = [{ id: 1, table: "tutoring_sessions", recordId: "t-9", field: "children_present", code: "out_of_range", message: "出席儿童数：250 超出范围（0 到 200）", rejectedMs: Date.now() - 3600000,
    change: { village: "南香村", session_date: "2026-11-26", start_time: "19:00", children_present: "250", subjects: "语文" } }];
}
const recount = () => {
  const p = [...recs.values()].filter((r) => r.pending);
  st.pending = p.length;
  st.oldestPendingMs = p.length ? Math.min(...p.map((r) => r.at)) : 0;
  st.rejected = refused.length;
};
recount();
const event = () => { recount(); postMessage({ event: "state", state: { ...st } }); };
const check = (f) => {
  const c = f.children_present;
  if (c !== undefined && !(/^\d+$/.test(c) && Number(c) <= 200)) return [{ field: "children_present", message: "出席儿童数：" + c + " 超出范围（0 到 200）" }];
  if (f.village === undefined && f.returned_on === undefined) return [{ field: "village", message: "村：必填" }];
  return [];
};
const tableOf = { "log-session": "tutoring_sessions", "report-cleanup": "cleanup_tasks", lend: "loans", return: "loans" };
onmessage = async (e) => {
  const q = e.data;
  const ok = (x) => postMessage({ id: q.id, ok: true, ...x });
  const fail = (error, x) => postMessage({ id: q.id, ok: false, error, ...x });
  switch (q.op) {
    case "open": return ok({ opened: { sqliteVersion: "fake", file: "fake", vfs: "fake", identity } });
    case "enroll":
      if (q.code !== "GOOD") return fail("注册码无效或已用过", { code: "permission_denied" });
      identity = { replica: 7, user: "南香志愿者", role: "volunteer", deviceName: q.deviceName, serverId: "s", villages: ["南香村"], allVillages: false };
      return ok({ identity });
    case "state": recount(); return ok({ state: { ...st } });
    case "save": {
      const problems = check(q.fields);
      if (problems.length) return fail("请更正标出的字段", { problems });
      const table = tableOf[q.form];
      if (q.recordId) {
        const r = recs.get(table + "/" + q.recordId);
        if (r) { Object.assign(r.fields, q.fields); r.pending = true; r.at = Date.now(); }
        event();
        return ok({ recordId: q.recordId });
      }
      const id = put(table, { ...q.fields }, true, Date.now());
      event();
      return ok({ recordId: id });
    }
    case "edit": {
      const r = recs.get(q.table + "/" + q.recordId);
      if (!r) return fail("no such record");
      const problems = check(q.fields);
      if (problems.length && q.fields.children_present !== undefined) return fail("请更正标出的字段", { problems });
      Object.assign(r.fields, q.fields); r.pending = true; r.at = Date.now(); event();
      return ok({});
    }
    case "delete": recs.delete(q.table + "/" + q.recordId); event(); return ok({});
    case "list": return ok({ listed: [...recs.values()].filter((r) => r.table === q.table).reverse().slice(0, q.limit).map(({ at, ...r }) => r) });
    case "get": { const r = recs.get(q.table + "/" + q.recordId); if (!r) return ok({ listed: [] }); const { at, ...x } = r; return ok({ listed: [x] }); }
    case "findBooks": return ok({ listed: [...recs.values()].filter((r) => r.table === "books" && (r.fields.title.includes(q.query) || r.fields.isbn.includes(q.query))).map(({ at, ...r }) => r) });
    case "rejected": return ok({ refused });
    case "dismiss": refused = refused.filter((r) => r.id !== q.rejectedId); event(); return ok({});
    case "sync": {
      st.syncing = true; event();
      await new Promise((r) => setTimeout(r, 200));
      st.syncing = false; st.lastAttemptMs = Date.now();
      if (offline) { st.offline = true; st.lastError = "无法连接服务器"; event(); return ok({ state: { ...st } }); }
      for (const r of recs.values()) r.pending = false;
      st.lastSyncMs = Date.now(); st.offline = false; st.lastError = ""; event();
      return ok({ state: { ...st } });
    }
    case "export": return ok({ exported: { name: "villagesync-unsynced.json", mime: "application/json", bytes: new TextEncoder().encode("{}"), records: st.pending } });
    case "close": return ok({});
    default: return fail("unknown op " + q.op);
  }
};
`
