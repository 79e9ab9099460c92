// Every string the console shows, in Chinese (the default) and English.
// `en` is typed as `Messages`, the shape of `zh`: a key missing from either,
// or a message taking other arguments, is a compile error.

export type Lang = "zh" | "en";

const zh = {
  appName: "三村项目数据台",
  appSub: "villagesync",
  switchLang: "English",
  switchLangLabel: "Switch to English",
  loading: "正在载入…",
  retry: "重试",
  cancel: "取消",
  confirm: "确定",
  save: "保存",
  close: "关闭",
  none: "无",
  never: "从未",
  yes: "是",
  no: "否",
  total: "合计",
  allVillages: "全部村",
  unreachable: "无法连接服务器：请检查网络后重试。您填写的内容仍保留在表单中。",
  unexpected: (msg: string) => `出错了：${msg}`,
  signedOutRevoked: "此浏览器已退出登录：它的访问权限已被撤销或已过期。请使用新的登录码重新登录。",
  signedOutByUser: "已退出登录。此浏览器的访问权限已撤销。",
  signedOutLocally: "已退出登录（服务器未能撤销此浏览器的访问权限，请工作人员在“设备”中撤销）。",

  // nav
  navOverview: "概览",
  navReview: "待审核",
  navDevices: "设备",
  navEnroll: "登记设备",
  navPeople: "人员与村",
  navHistory: "记录历史",
  signOut: "退出登录",
  mainNav: "主导航",

  // roles
  role_volunteer: "志愿者",
  role_coordinator: "协调员",
  role_staff: "镇工作人员",
  role_admin: "管理员",

  // sign-in
  signinTitle: "登录",
  signinIntro: "输入工作人员给您的一次性登录码，或用手机相机扫描登录二维码。登录码只能使用一次。",
  signinCode: "登录码",
  signinButton: "登录",
  signinWorking: "正在登录…",
  signinFromLink: "已从链接读取登录码，正在登录…",
  signinNeedCode: "请输入登录码。",

  // overview
  overviewTitle: "项目概览",
  period: "期间",
  noData: "所选期间和村没有任何记录。",
  filters: "筛选",
  fromMonth: "起始月份",
  toMonth: "截止月份",
  villages: "村",
  villagesHint: "用逗号分隔；可写村名、拼音或别名。留空表示全部村。",
  apply: "应用",
  resetFilters: "清除筛选",
  downloadXlsx: "下载 Excel (XLSX)",
  downloadCsv: "下载 CSV",
  downloading: "正在生成文件…",
  sinceStart: "自开始以来的合计",
  tutoring: "夜间7点钟课堂",
  sessions: "课堂次数",
  attendances: "学生出勤人次",
  volunteersCount: "志愿者人数",
  cleanup: "环境整治",
  reported: "上报",
  done: "完成",
  checked: "验收",
  quantity: "工作量",
  kindCol: "类别",
  loans: "图书借阅",
  library: "图书馆",
  made: "借出",
  returned: "归还",
  open: "在借",
  overdue: "逾期",
  byMonth: "按村和月份",
  month: "月份",
  village: "村",
  charts: "图表",
  chartAttendance: "每月学生出勤人次（按村）",
  chartCleanup: "环境整治任务（按类别和状态）",
  chartLoans: "图书借阅（按图书馆）",
  revised: "已修订",
  revisedTitle: (first: string, revised: string) => `首次报告于 ${first}，${revised} 后数字有变化`,
  flagged: (n: number) => `${n} 项待审核`,
  flagsBanner: (n: number) => `有 ${n} 项尚待审核，处理后数字可能变化：`,
  toReview: "去审核",
  freshness: "数据新鲜度",
  generatedAt: "报表生成时间",
  feedSeq: "服务器变更序号",
  device: "设备",
  user: "用户",
  lastSync: "最后同步",
  behind: "待同步变更",
  upToDate: "已是最新",
  behindN: (n: string) => `落后 ${n} 条`,
  revokedMark: "已撤销",
  freshNote:
    "设备最后同步时间由服务器在下次上传时记录；尚未同步的设备上的记录不在报表中。“已修订”的月份，其数字在首次报告后发生了变化。",
  openConflicts: "待处理冲突",
  reportUnavailable: "无法载入报表。",

  // review
  reviewTitle: "待审核",
  reviewIntro: "同步无法自行决定的事项：并发修改中落选的值、同一本书重复借出、同一课堂重复登记。",
  queueEmpty: "没有待审核的事项。",
  historyTitle: "已处理",
  historyEmpty: "还没有处理过的事项。",
  entry: (id: string) => `#${id}`,
  detectedAt: "发现时间",
  record: "记录",
  field: "字段",
  kept: "当前保留的值",
  lost: "落选的值",
  writtenBy: (user: string, device: string) => `${user} · 设备 ${device}`,
  serverWrite: "服务器",
  deviceOnly: (device: string) => `设备 ${device}`,
  at: "时间",
  valueNull: "（空）",
  valueDeleted: "删除此记录",
  valueEdited: "修改此记录",
  recordsInvolved: "涉及的记录",
  earliestCopy: "最早的一份（报表计入）",
  laterCopy: "较晚的一份（暂不计入）",
  copyDeleted: "已删除",
  lastWrite: "最后修改",
  whatItDoes: "可选的处理方式",
  resolveAs: (what: string) => `处理为：${what}`,
  resolution_keep: "保留当前值",
  resolution_take_loser: "改用落选的值",
  resolution_distinct: "确为不同课堂",
  resolution_merge: "合并重复课堂",
  resolution_noted: "已知悉",
  effKeep: (value: string) => `保留“${value}”，数据不变。`,
  effTakeLoser: (field: string, value: string) =>
    `把“${field}”改回“${value}”，作为服务器的修改同步到所有设备。`,
  effTakeLoserDelete: "删除这条记录（删除生效），它将从报表和所有设备上消失。",
  effNoted: "标记为已看过，数据不变。",
  effNotedLoan: "标记为已看过，两条借阅都保持原样（请与借书人核实）。",
  effMerge: (later: number, att: string, sessions: string) =>
    `删除较晚的 ${later} 份，保留最早的一份；报表仍按 ${sessions} 次课堂、${att} 人次计算（与现在相同）。`,
  effDistinct: (sessions: string, att: string, nowSessions: string, nowAtt: string) =>
    `保留所有记录，视为不同课堂；报表将计 ${sessions} 次课堂、${att} 人次，而不是现在的 ${nowSessions} 次、${nowAtt} 人次。`,
  effMergeGeneric: "删除较晚的重复课堂，保留最早的一份；报表仍只计一次（与现在相同）。",
  effDistinctGeneric: "保留所有记录，视为不同课堂；报表将分别计入每一次课堂。",
  staffDecide: "由镇工作人员处理。",
  confirmTitle: "确认处理",
  confirmResolve: (id: string, what: string) => `将 #${id} 处理为“${what}”？`,
  resolvedBy: (by: string, when: string, what: string) => `${by} 于 ${when} 处理为“${what}”`,
  viewHistory: "查看记录历史",
  kind_field: "同一字段被并发修改",
  kind_delete_vs_edit: "删除与修改冲突",
  kind_double_loan: "同一本书重复借出",
  kind_duplicate_session: "疑似重复登记的课堂",

  // devices
  devicesTitle: "设备",
  devicesIntro: "每台已登记的手机或浏览器：属于谁、最后同步时间、还有多少变更没有拉取。",
  devicesFromReport: "（协调员视图：来自报表的数据新鲜度）",
  replica: "编号",
  name: "名称",
  role: "角色",
  enrolledAt: "登记时间",
  status: "状态",
  active: "使用中",
  revokedAt: (when: string) => `已于 ${when} 撤销`,
  thisBrowser: "此浏览器",
  revoke: "撤销",
  confirmRevoke: (name: string, user: string) =>
    `撤销设备“${name}”（${user}）？它的下一次请求将被拒绝，需要新的登录码才能再次使用。`,
  confirmRevokeSelf: "这是您正在使用的浏览器：撤销后将立即退出登录。",
  noDevices: "还没有登记的设备。",
  actions: "操作",

  // enroll
  enrollTitle: "登记设备",
  enrollIntro: "为一位用户生成一次性登录码。用手机扫描二维码即可登录，也可以手动输入登录码。",
  enrollUser: "用户",
  chooseUser: "请选择用户",
  enrollTtl: "有效期",
  ttl1h: "1 小时",
  ttl24h: "24 小时",
  ttl7d: "7 天",
  enrollCreate: "生成登录码",
  enrollReady: "可以用手机扫描了",
  enrollScan: "用手机相机扫描此二维码，打开链接即完成登录。",
  enrollCodeLabel: "登录码",
  enrollLinkLabel: "登录链接",
  enrollExpires: (when: string, rel: string) => `有效至 ${when}（${rel}），只能使用一次。`,
  enrollNoUsers: "没有您可以为其登记设备的用户。",
  qrLabel: (link: string) => `登录二维码：${link}`,

  // history
  historyPageTitle: "记录历史",
  historyIntro: "一条记录的全部修改：谁、在哪台设备上、什么时候、结果如何。",
  table: "表",
  recordId: "记录编号",
  show: "查看",
  noChanges: "这条记录没有修改历史。",
  chooseRecord: "选择表并输入记录编号，或从待审核页面的链接进入。",
  outcome_applied: "已写入",
  outcome_merged: "已合并",
  outcome_rejected: "被拒绝",
  outcome_resolved: (what: string) => `工作人员处理：${what}`,
  seq: "序号",
  onDevice: (replica: string, device: string) => `设备 #${replica} ${device}`,
  table_tutoring_sessions: "夜间7点钟课堂",
  table_cleanup_tasks: "环境整治",
  table_books: "图书",
  table_loans: "借阅",
  table_villages: "村",

  // people
  peopleTitle: "人员与村",
  users: "用户",
  createdAt: "创建时间",
  newUser: "新建用户",
  newUserName: "姓名",
  newUserRole: "角色",
  newUserVillages: "所属村（志愿者必填）",
  create: "创建",
  created: (name: string) => `已创建用户 ${name}。`,
  editVillages: "修改所属村",
  villagesSaved: (name: string) => `已更新 ${name} 的所属村。`,
  villagesList: "村",
  pinyin: "拼音",
  aliases: "别名",
  aliasesHint: "其他写法，用逗号分隔（如 旺鱼村）",
  addVillage: "添加村",
  villageAdded: (name: string) => `已添加 ${name}。`,
  villagesUnavailable: "无法列出村：",
  everyVillage: "全部村",
};

export type Messages = typeof zh;

const en: Messages = {
  appName: "Village programs console",
  appSub: "villagesync",
  switchLang: "中文",
  switchLangLabel: "切换到中文",
  loading: "Loading…",
  retry: "Retry",
  cancel: "Cancel",
  confirm: "Confirm",
  save: "Save",
  close: "Close",
  none: "none",
  never: "never",
  yes: "yes",
  no: "no",
  total: "Total",
  allVillages: "All villages",
  unreachable:
    "The server cannot be reached: check the network and try again. What you typed is still in the form.",
  unexpected: (msg: string) => `Something went wrong: ${msg}`,
  signedOutRevoked:
    "This browser was signed out: its access was revoked or has expired. Sign in with a new code.",
  signedOutByUser: "Signed out. This browser's access is revoked.",
  signedOutLocally:
    "Signed out (the server could not revoke this browser's access; ask staff to revoke it under Devices).",

  navOverview: "Overview",
  navReview: "Review",
  navDevices: "Devices",
  navEnroll: "Enroll a device",
  navPeople: "People & villages",
  navHistory: "Record history",
  signOut: "Sign out",
  mainNav: "Main navigation",

  role_volunteer: "volunteer",
  role_coordinator: "coordinator",
  role_staff: "town staff",
  role_admin: "admin",

  signinTitle: "Sign in",
  signinIntro:
    "Type the one-time code staff gave you, or scan the sign-in QR code with this phone's camera. A code works once.",
  signinCode: "Sign-in code",
  signinButton: "Sign in",
  signinWorking: "Signing in…",
  signinFromLink: "Code read from the link; signing in…",
  signinNeedCode: "Type the sign-in code.",

  overviewTitle: "Programs overview",
  period: "Period",
  noData: "No records for the chosen period and villages.",
  filters: "Filters",
  fromMonth: "From month",
  toMonth: "To month",
  villages: "Villages",
  villagesHint: "Comma-separated: a name, its pinyin or an alias. Empty means every village.",
  apply: "Apply",
  resetFilters: "Clear filters",
  downloadXlsx: "Download Excel (XLSX)",
  downloadCsv: "Download CSV",
  downloading: "Making the file…",
  sinceStart: "Totals since the start",
  tutoring: "7pm classroom",
  sessions: "Sessions",
  attendances: "Student-attendances",
  volunteersCount: "Volunteers",
  cleanup: "Environmental cleanup",
  reported: "Reported",
  done: "Done",
  checked: "Checked",
  quantity: "Work done",
  kindCol: "Kind",
  loans: "Library loans",
  library: "Library",
  made: "Made",
  returned: "Returned",
  open: "Open",
  overdue: "Overdue",
  byMonth: "By village and month",
  month: "Month",
  village: "Village",
  charts: "Charts",
  chartAttendance: "Student-attendances per month, by village",
  chartCleanup: "Cleanup tasks by kind and status",
  chartLoans: "Loans by library",
  revised: "revised",
  revisedTitle: (first: string, revised: string) =>
    `First reported ${first}; the figures changed (latest change ${revised})`,
  flagged: (n: number) => `${n} to review`,
  flagsBanner: (n: number) =>
    `${n} ${n === 1 ? "entry is" : "entries are"} open for review; the figures may change once resolved:`,
  toReview: "Review them",
  freshness: "How fresh the figures are",
  generatedAt: "Report made at",
  feedSeq: "Server feed position",
  device: "Device",
  user: "User",
  lastSync: "Last sync",
  behind: "Changes not pulled",
  upToDate: "up to date",
  behindN: (n: string) => `${n} behind`,
  revokedMark: "revoked",
  freshNote:
    "A device's last sync is written down by the server with its next upload; records on devices that have not synced are not counted. A month marked revised changed after it was first reported.",
  openConflicts: "Open conflicts",
  reportUnavailable: "The report could not be loaded.",

  reviewTitle: "Review queue",
  reviewIntro:
    "What sync could not decide alone: values that lost a concurrent edit, a copy lent twice, a class logged twice.",
  queueEmpty: "Nothing to review.",
  historyTitle: "Resolved",
  historyEmpty: "Nothing resolved yet.",
  entry: (id: string) => `#${id}`,
  detectedAt: "Detected",
  record: "Record",
  field: "Field",
  kept: "Value kept now",
  lost: "Value that lost",
  writtenBy: (user: string, device: string) => `${user} · device ${device}`,
  serverWrite: "the server",
  deviceOnly: (device: string) => `device ${device}`,
  at: "At",
  valueNull: "(empty)",
  valueDeleted: "delete the record",
  valueEdited: "edit the record",
  recordsInvolved: "Records involved",
  earliestCopy: "Earliest copy (counted in reports)",
  laterCopy: "Later copy (not counted for now)",
  copyDeleted: "deleted",
  lastWrite: "Last change",
  whatItDoes: "What each resolution does",
  resolveAs: (what: string) => `Resolve: ${what}`,
  resolution_keep: "Keep",
  resolution_take_loser: "Take the losing value",
  resolution_distinct: "Different classes",
  resolution_merge: "Merge the copies",
  resolution_noted: "Noted",
  effKeep: (value: string) => `Keeps “${value}”; nothing changes.`,
  effTakeLoser: (field: string, value: string) =>
    `Writes “${value}” back into ${field}, as a server edit that syncs to every device.`,
  effTakeLoserDelete:
    "Deletes the record (the delete wins after all); it leaves the reports and every device.",
  effNoted: "Marks it seen; nothing changes.",
  effNotedLoan: "Marks it seen; both loans stay as they are (sort it out with the borrowers).",
  effMerge: (later: number, att: string, sessions: string) =>
    `Deletes the later ${later === 1 ? "copy" : `${later} copies`}, keeping the earliest; the report then counts ${sessions} session and ${att} attendances, as it does now.`,
  effDistinct: (sessions: string, att: string, nowSessions: string, nowAtt: string) =>
    `Keeps every copy as a different class; the report then counts ${sessions} sessions and ${att} attendances instead of ${nowSessions} and ${nowAtt}.`,
  effMergeGeneric: "Deletes the later copies, keeping the earliest; the report still counts the class once, as it does now.",
  effDistinctGeneric: "Keeps every copy as a different class; the report then counts each of them.",
  staffDecide: "Town staff decide this.",
  confirmTitle: "Confirm",
  confirmResolve: (id: string, what: string) => `Resolve #${id} as “${what}”?`,
  resolvedBy: (by: string, when: string, what: string) => `${what}, by ${by} at ${when}`,
  viewHistory: "Record history",
  kind_field: "Same field edited concurrently",
  kind_delete_vs_edit: "Delete vs edit",
  kind_double_loan: "Copy lent twice",
  kind_duplicate_session: "Probable duplicate session",

  devicesTitle: "Devices",
  devicesIntro:
    "Every enrolled phone or browser: whose it is, when it last synced, and how many changes it has not pulled yet.",
  devicesFromReport: "(coordinator view: from the report's freshness)",
  replica: "No.",
  name: "Name",
  role: "Role",
  enrolledAt: "Enrolled",
  status: "Status",
  active: "active",
  revokedAt: (when: string) => `revoked ${when}`,
  thisBrowser: "this browser",
  revoke: "Revoke",
  confirmRevoke: (name: string, user: string) =>
    `Revoke the device “${name}” (${user})? Its next call is refused; it needs a new code to be used again.`,
  confirmRevokeSelf: "This is the browser you are using: you will be signed out at once.",
  noDevices: "No devices enrolled yet.",
  actions: "Actions",

  enrollTitle: "Enroll a device",
  enrollIntro:
    "Make a one-time sign-in code for a user. A phone scans the QR code to sign in, or the code is typed.",
  enrollUser: "User",
  chooseUser: "Choose a user",
  enrollTtl: "Valid for",
  ttl1h: "1 hour",
  ttl24h: "24 hours",
  ttl7d: "7 days",
  enrollCreate: "Create a code",
  enrollReady: "Ready for a phone to scan",
  enrollScan: "Scan this QR code with the phone's camera and open the link: that signs it in.",
  enrollCodeLabel: "Code",
  enrollLinkLabel: "Link",
  enrollExpires: (when: string, rel: string) => `Valid until ${when} (${rel}); it works once.`,
  enrollNoUsers: "There is no user you may enroll a device for.",
  qrLabel: (link: string) => `Sign-in QR code: ${link}`,

  historyPageTitle: "Record history",
  historyIntro: "Every change of one record: who, on which device, when, and what came of it.",
  table: "Table",
  recordId: "Record id",
  show: "Show",
  noChanges: "This record has no history.",
  chooseRecord: "Choose a table and type a record id, or follow a link from the review queue.",
  outcome_applied: "applied",
  outcome_merged: "merged",
  outcome_rejected: "refused",
  outcome_resolved: (what: string) => `staff resolved: ${what}`,
  seq: "Seq",
  onDevice: (replica: string, device: string) => `device #${replica} ${device}`,
  table_tutoring_sessions: "7pm classroom sessions",
  table_cleanup_tasks: "cleanup tasks",
  table_books: "books",
  table_loans: "loans",
  table_villages: "villages",

  peopleTitle: "People & villages",
  users: "Users",
  createdAt: "Created",
  newUser: "New user",
  newUserName: "Name",
  newUserRole: "Role",
  newUserVillages: "Villages (a volunteer needs at least one)",
  create: "Create",
  created: (name: string) => `User ${name} created.`,
  editVillages: "Change villages",
  villagesSaved: (name: string) => `${name}'s villages saved.`,
  villagesList: "Villages",
  pinyin: "Pinyin",
  aliases: "Aliases",
  aliasesHint: "Other spellings, comma-separated (e.g. 旺鱼村)",
  addVillage: "Add a village",
  villageAdded: (name: string) => `${name} added.`,
  villagesUnavailable: "The villages could not be listed: ",
  everyVillage: "every village",
};

// Words for codes the server sends (kinds, libraries, fields), in both
// languages; an unknown code shows as it is.
type Pair = readonly [zh: string, en: string];

const cleanupKinds: Record<string, Pair> = {
  construction_waste: ["建筑垃圾清运", "construction waste"],
  road_levelling: ["道路平整", "road levelling"],
  street_sweeping: ["街道清扫", "street sweeping"],
  other: ["其他整治", "other cleanup"],
};

const libraries: Record<string, Pair> = {
  party_villagers: ["党群图书馆", "party & villagers library"],
  children: ["小学少儿图书馆", "children's library"],
  unknown: ["未知图书", "unknown book"],
};

const statuses: Record<string, Pair> = {
  reported: ["已上报", "reported"],
  in_progress: ["进行中", "in progress"],
  done: ["已完成", "done"],
  checked: ["已验收", "checked"],
};

// The columns' names, as schema/tables.go has them.
const fields: Record<string, Pair> = {
  village: ["村", "village"],
  notes: ["备注", "notes"],
  name: ["村名", "name"],
  pinyin: ["拼音", "pinyin"],
  aliases: ["别名", "aliases"],
  session_date: ["日期", "date"],
  start_time: ["开始时间", "start time"],
  class_group: ["班级", "class"],
  volunteers: ["志愿者", "volunteers"],
  subjects: ["科目", "subjects"],
  children_present: ["出席儿童数", "children present"],
  kind: ["类别", "kind"],
  place: ["地点", "place"],
  status: ["状态", "status"],
  quantity: ["数量", "quantity"],
  unit: ["单位", "unit"],
  crew_size: ["人数", "crew size"],
  reported_at: ["报告时间", "reported at"],
  finished_at: ["完成时间", "finished at"],
  routine: ["长效机制", "routine"],
  library: ["图书馆", "library"],
  copy_no: ["副本号", "copy no."],
  title: ["书名", "title"],
  author: ["作者", "author"],
  isbn: ["ISBN", "ISBN"],
  book_id: ["图书", "book"],
  borrower_card: ["借书证", "borrower card"],
  lent_on: ["借出日期", "lent on"],
  due_on: ["应还日期", "due on"],
  returned_on: ["归还日期", "returned on"],
  _deleted: ["删除状态", "deleted"],
  session: ["课堂", "session"],
};

let lang: Lang = "zh";

export function setLang(l: Lang): void {
  lang = l;
}

export function getLang(): Lang {
  return lang;
}

export function t(): Messages {
  return lang === "en" ? en : zh;
}

function pick(m: Record<string, Pair>, code: string): string {
  const p = m[code];
  return p ? p[lang === "en" ? 1 : 0] : code;
}

export const cleanupKind = (k: string): string => pick(cleanupKinds, k);
export const libraryName = (l: string): string => pick(libraries, l);
export const fieldName = (f: string): string => pick(fields, f);
export const statusName = (st: string): string => pick(statuses, st);

// Words for codes whose message keys are built from them (role_staff).
function prefixed(prefix: string, code: string): string {
  const v = (t() as unknown as Record<string, unknown>)[prefix + code];
  return typeof v === "string" ? v : code;
}

export const roleName = (r: string): string => prefixed("role_", r);
export const kindName = (k: string): string => prefixed("kind_", k);
export const resolutionName = (r: string): string => prefixed("resolution_", r);
export const tableName = (tb: string): string => prefixed("table_", tb);
export const outcomeName = (o: string): string => {
  if (o.startsWith("resolved ")) return t().outcome_resolved(resolutionName(o.slice("resolved ".length)));
  return prefixed("outcome_", o);
};

export const tables = ["tutoring_sessions", "cleanup_tasks", "books", "loans", "villages"] as const;
