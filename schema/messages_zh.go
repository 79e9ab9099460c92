package schema

// zhFormats says in Chinese every English format a refusal is made from
// (record.Problemf, Messagef, and the helpers that pass their format on):
// the key is the English format exactly as the code writes it. Each keeps
// the English verbs in the same order, since fmt fills them from the same
// arguments; TestEveryMessageHasChinese and TestTranslationsKeepTheVerbs
// keep the catalogue whole and true. A problem's message follows its
// field's name and a colon ("角色："), so it does not say the name again.
var zhFormats = map[string]string{
	// Arguments said as they are: their own words (a message, a column's
	// check, which is in both languages already).
	"%v": "%v",
	"%s": "%s",

	// Hand-carried files (api/wire/carry.go).
	"a box public key is %d bytes, not %d": "公钥应为%d字节，实为%d字节",
	"the file is damaged or was changed on the way (it fails its seal): make it again on the device and carry the new one": "" +
		"文件已损坏或在传递途中被改动（未通过校验）：请在设备上重新生成文件，再传递新文件",
	"the file is %d bytes, more than a carried file's %d: carry the device's changes in several files": "" +
		"文件有%d字节，超过传递文件的上限%d字节：请把设备的改动分成几个文件传递",
	"the file is not a villagesync carried file (it is not gzip-compressed)": "这不是 villagesync 的传递文件（不是 gzip 压缩文件）",
	"the file is truncated or damaged (its compression does not read through): carry it again, or make it again on the device": "" +
		"文件不完整或已损坏（无法解压）：请重新传递，或在设备上重新生成",
	"the file is not a villagesync carried file":                            "这不是 villagesync 的传递文件",
	"the file is of a newer format (%d; this app reads %d): update the app": "文件格式较新（%d；本应用只能读取%d）：请更新应用",

	// Hand-carried files on the device (clients/go/replica/carry.go).
	"this device does not know the server's key yet: sync directly once (the sync fetches it), then make carried files": "" +
		"本设备还没有服务器的密钥：请先直接同步一次（同步时会取得密钥），再生成传递文件",
	"this is a device's push file, for the server: carry it with villagesync carry FILE": "" +
		"这是设备发给服务器的文件：请用 villagesync carry FILE 把它交给服务器",
	"the file is from another server (%d; this device syncs with %d): ask staff of this device's server for a new file": "" +
		"文件来自另一台服务器（%d；本设备与%d同步）：请向本设备所属服务器的工作人员索取新文件",
	"the file holds a record of a table this app does not know (%s): update the app": "文件里有本应用不认识的表（%s）的记录：请更新应用",
	"this device's villages changed after the file was made: sync directly (the sync brings the new villages' records) or ask staff for a new file": "" +
		"文件生成之后，本设备负责的村子变了：请直接同步（同步会带来新村子的记录），或向工作人员索取新文件",
	"this device is part-way through pulling its villages again: sync directly to finish that, then files from staff apply again": "" +
		"本设备正在重新下载所负责村子的全部记录：请先直接同步完成，之后才能导入工作人员的文件",
	"the file is for device %d, not this one (%d): import it on that device": "文件是给设备%d的，不是本设备（%d）：请在那台设备上导入",
	"the server was restored from a backup between this device's last sync and the file: sync directly (the device then sends its changes again) or ask for a new file": "" +
		"在本设备上次同步与生成此文件之间，服务器从备份中恢复过：请直接同步（设备会重新发送改动），或索取新文件",
	"the file starts after this device's place in the server's updates (%d; the device is at %d), so updates between would be missing: sync directly or ask for a new file": "" +
		"文件的起点（%d）在本设备已收到的更新（%d）之后，中间的更新会缺失：请直接同步，或索取新文件",

	// Hand-carried files at the server (api/rpc/carry.go, sync/store/carry.go).
	"%s may not reset a %s's device key; ask an admin": "%s 不能重置%s的设备密钥；请联系管理员",
	"device %d was never enrolled on this server (server %016x): a file goes to and from its device's own server": "" +
		"设备%d从未在本服务器（%016x）注册：文件只能在设备和它自己的服务器之间传递",
	"device %s (replica %d, user %s) was revoked: the server takes nothing from it and makes nothing for it": "" +
		"设备 %s（编号%d，用户 %s）已被吊销：服务器不接收它的改动，也不为它生成文件",
	"the server has no key of device %s (replica %d) yet: sync the device directly once (it sends its key then), and carry its files after that": "" +
		"服务器还没有设备 %s（编号%d）的公钥：请先让该设备直接同步一次（同步时会发送公钥），之后再传递它的文件",
	"this file is not a device's changes but the server's updates for device %d: open it on that device": "" +
		"这不是设备的改动文件，而是服务器给设备%d的更新：请在那台设备上打开",
	"the file is for server %016x, but this is server %016x: carry it to the server its device syncs with (nothing was applied)": "" +
		"文件属于服务器 %016x，而这是服务器 %016x：请把它带到该设备同步的服务器（未做任何改动）",
	"the file was made before this server was restored from a backup, so it may build on changes the server no longer has: nothing was applied; sync device %s directly (it sends all its changes again)": "" +
		"文件生成于本服务器从备份恢复之前，可能依赖服务器已不再保存的改动：未做任何改动；请让设备 %s 直接同步（它会重新发送全部改动）",
	"the file's device %s has seen this server's changes up to %d, more than the server has (it was restored from an older backup): nothing was applied; sync the device directly": "" +
		"文件所属设备 %s 已看到服务器的改动直到%d，超过服务器现有的（服务器从较早的备份恢复）：未做任何改动；请让设备直接同步",
	"%d changes in one file, the limit is %d; make several files on the device": "一个文件中有%d条改动，上限是%d条；请在设备上分成几个文件",
	"change %d (%s %s) carries a write of replica %d, not of the file's device %d: a carried file holds only its device's own writes; nothing was applied": "" +
		"第%d条改动（%s %s）含有设备%d的写入，而非文件所属设备%d的：传递文件只能包含其设备自己的写入；未做任何改动",
	"the file cannot be opened: its device is unknown to this server or not ready for carried files (it must sync directly once first), or the file is damaged or was changed on the way: nothing was applied; make it again on the device, or sync the device directly": "" +
		"无法打开此文件：它的设备在本服务器上未知或尚不能传递文件（须先直接同步一次），或文件已损坏或在传递途中被改动：未做任何改动；请在设备上重新生成文件，或让设备直接同步",
	"the server refused this change (%s); the device shows why at its next direct sync": "" +
		"服务器拒绝了此改动（%s）；设备下次直接同步时会显示原因",
	"device %s was away while the server forgot deleted records it has not seen: it must pull everything again, which a file cannot do; sync it directly": "" +
		"设备 %s 离线期间，服务器已清除了它未见过的删除记录：它必须重新拉取全部数据，文件做不到；请让它直接同步",

	// Enrollment and tokens.
	"this enrollment code is not known; check it, or ask staff for a new one": "无效；请核对，或向工作人员索取新的注册码",
	"this enrollment code was used already; ask staff for a new one": "此注册码已被使用过，" +
		"请向工作人员索取新的注册码",
	"this enrollment code expired; ask staff for a new one": "此注册码已过期，请向工作人员索取新的注册码",
	"no token; enroll the device first":                     "缺少令牌，请先注册设备",
	"unknown or revoked token; enroll this device again":    "无效或已被吊销；请重新注册此设备",
	"the Authorization header's scheme is %q; send \"Bearer TOKEN\"": "Authorization 请求头的方案是 %q，" +
		"应为 \"Bearer 令牌\"",
	"missing":                             "缺少此项",
	"must be 1 to 64 characters of UTF-8": "应为1到64个字符（UTF-8）",
	"contains the control character %U at character %d; a name may not hold control characters or terminal escapes (不能包含控制字符)": "" +
		"含有控制字符 %U（第%d个字符）；名称不能包含控制字符或终端转义序列",
	"%s (user %s) may not call %s":                                     "%s（用户 %s）无权调用 %s",
	"%s is calling faster than %.0f requests a second; wait and retry": "%s 的请求过于频繁（每秒超过%.0f次），请稍后重试",
	"internal error; the server log has the details":                   "服务器内部错误，详情见服务器日志",
	"this app has schema version %d and this server serves %d and newer; update the app (nothing was changed)": "" +
		"本应用的数据版本是 %d，本服务器只服务 %d 及更新的版本；请更新应用（没有任何改动）",
	"the server cannot write its database (disk full, read-only or failing); nothing was changed, your changes are kept on your device: sync again later": "" +
		"服务器无法写入数据库（磁盘已满、只读或故障）；没有任何改动，您的修改仍保存在设备上，请稍后再同步",

	// Users, villages, devices.
	"must be 1 to 64 characters":                                     "应为1到64个字符",
	"%q is not one of volunteer, staff, coordinator, admin":          "%q 不是有效角色（志愿者 volunteer、工作人员 staff、协调员 coordinator、管理员 admin）",
	"a user called %q exists already":                                "已有名为 %q 的用户",
	"only volunteers are assigned villages; a %s sees every village": "只有志愿者需要分配村；%s 可以看到所有村",
	"a volunteer needs at least one village":                         "志愿者至少要分配一个村",
	"%q is not a known village (known: %s)":                          "%q 不是已知的村（已知：%s）",
	"no such user: %q":                                               "没有用户 %q",
	"no user %q":                                                     "没有用户 %q",
	"%s is longer than the limit of %s":                              "%s 超过了上限 %s",
	"%s may not enroll devices of a %s; ask an admin":                "%s 无权为%s注册设备，请联系管理员",
	"%s may not revoke a %s's device; ask an admin":                  "%s 无权吊销%s的设备，请联系管理员",
	"%s may revoke only this device (replica %d); ask staff to revoke another": "%s 只能吊销本设备（设备 %d），" +
		"吊销其他设备请联系工作人员",
	"not found": "未找到",
	"unknown replica %d; this server never registered it (villagesync device init registers a device)": "未知的设备编号 %d；" +
		"本服务器从未登记过它（villagesync device init 可登记设备）",
	"a village needs a Chinese name and its pinyin":         "新村需要中文名和拼音",
	"%q is already village %s":                              "%q 已经是村 %s",
	"%q holds a comma; give each alias as its own argument": "%q 含有逗号；每个别名请分开填写",
	"not a record of your villages (%s serves %s)":          "不是您所负责的村的记录（%s 负责：%s）",
	"%q is not a UUID in canonical form (like 0190a6e4-5b7a-7c3e-8f00-1a2b3c4d5e6f)": "%q 不是规范格式的 UUID" +
		"（例如 0190a6e4-5b7a-7c3e-8f00-1a2b3c4d5e6f）",
	"unknown table %q (known: %s)": "未知的表 %q（已知：%s）",

	// Conflicts.
	"%d is more than 1000":                                "%d 超过了1000",
	"%d is more than %d":                                  "%d 超过了 %d",
	"%d is not between 0 and %d":                          "%d 不在 0 到 %d 之间",
	"%s is reference data, not a program's records":       "%s 是参考数据，不是项目记录",
	"name who resolves it, 1 to 64 characters":            "请填写处理人的名字（1到64个字符）",
	"no such conflict: %d":                                "没有编号为 %d 的冲突记录",
	"%q does not resolve a %s entry (use one of: %s)":     "%q 不能用于处理%s类记录（可用：%s）",
	"already resolved: entry %d was resolved as %s by %s": "已处理：记录 %d 已被处理为 %s（处理人 %s）",
	"not a duplicate any more: entry %d: no two of its %d %ss are still %s; resolve it as %s": "已不再重复：记录 %d 的%d条%s中" +
		"已没有两条仍属%s；请处理为 %s",
	"not a duplicate any more: entry %d: the earlier %s %s is deleted or no longer %s; resolve it as %s": "已不再重复：" +
		"记录 %d 中较早的%s %s 已删除或已不属%s；请处理为 %s",
	"lists resolved entries; open_only lists the others: ask for one of them": "只列已处理的记录，" +
		"而 open_only 只列未处理的：请只选其一",

	// Reports.
	"%q is not a month like 2024-06":      "%q 不是月份（格式如 2024-06）",
	"%s is before from_month %s":          "%s 早于起始月份 %s",
	"%q is not one of your villages (%s)": "%q 不是您所负责的村（%s）",
	"%q is not csv or xlsx":               "%q 不是 csv 或 xlsx",
	"%q is not zh or en":                  "%q 不是 zh 或 en",

	// A sync request, and the changes it pushes (devices show them in
	// their rejected list).
	"the token belongs to replica %d, not %d":                             "令牌属于设备 %d，而不是 %d",
	"%d in one request, the limit is %d; push them over several requests": "一次请求有%d条改动，上限为%d条；请分几次上传",
	"this device synced with server %016x, but this is server %016x; point it back at its server or initialise a new device file": "" +
		"此设备曾与服务器 %016x 同步，而这是服务器 %016x；请改回原服务器，或重新初始化设备文件",
	"%s was deleted on the server, and the delete is older than the server keeps; this edit is kept for staff to review": "" +
		"%s 已在服务器上删除，且删除时间早于服务器保留的期限；此修改已保留，待工作人员审核",
	"coordinators read everything and write nothing (user %s)": "协调员只能查看、不能修改（用户 %s）",
	"only admins change %s (user %s is %s)":                    "只有管理员可以修改%s（用户 %s 是%s）",
	"%s is not one of your villages (%s serves %s)":            "%s 不是您所负责的村（%s 负责：%s）",
	"not a record of your villages; a record you write names one of them (%s serves %s)": "不是您所负责的村的记录；" +
		"您写的记录须属于其中一个村（%s 负责：%s）",
	"this device has %s (%s) held on the server, the limit is %s (%s): ask staff to review them. This one stays in the device's rejected list, refused for: %s": "" +
		"此设备已有%s（%s）被服务器暂存，上限为%s（%s）：请工作人员审核。此条改动留在设备的被拒列表中，被拒原因：%s",
	"written at %s by the device's clock, more than a day ahead of the server's (%s): set the device's date and time (设备时间比服务器快一天以上，请校正手机日期和时间)": "" +
		"按设备时钟写于 %s，比服务器时间（%s）快一天以上：请校正手机日期和时间",
	"is empty":                 "为空",
	"replica %d has counter 0": "设备 %d 的计数为0",
	"replica %d has counter %d, more than a counter can be (%d)": "设备 %d 的计数为%d，超过了计数上限（%d）",
	"the change carries no fields and no delete":                 "此改动既没有字段也没有删除",
	"dot of replica %d in a change pushed by replica %d (a device pushes only its own writes)": "设备 %d 的写入出现在设备 %d " +
		"上传的改动中（设备只能上传自己的写入）",
	"dot counter %d is outside the change's version %s": "写入计数 %d 不在此改动的版本 %s 之内",
	"unknown field (known: %s)":                         "未知字段（已知：%s）",
	"%s does not include the delete itself (%s)":        "%s 不包含此删除本身（%s）",
	"%s is not within the change's version %s":          "%s 不在此改动的版本 %s 之内",
	"is required (%s不能为空)":                              "%s不能为空",
	"field %q appears twice":                            "字段 %q 出现了两次",
	"%v is not a finite number (应为有限数值)":                "%v 不是有限数值",
	// The attachment lane (photos).
	"%s is not an attachment's SHA-256 digest (64 lowercase hex digits)": "%s 不是附件的 SHA-256 标识（64位小写十六进制数字）",
	"%d digests are more than %d a call":                                 "%d 个标识超过了每次调用的上限 %d 个",
	"an attachment has at least one byte":                                "附件至少要有一个字节",
	"%d bytes is more than the %d an attachment may have; downsize the photo": "%d 字节超过了附件的上限 %d 字节；" +
		"请把照片缩小",
	"%d bytes is more than the %d of one chunk":               "%d 字节超过了每块的上限 %d 字节",
	"%d bytes at offset %d run past the attachment's size %d": "%d 字节（从第 %d 字节起）超出了附件的大小 %d 字节",
	"%d bytes: only the last chunk may be shorter than %d":    "%d 字节：只有最后一块可以少于 %d 字节",
	"no record of your villages names %s; sync the record first": "您所负责的村没有记录引用附件 %s；" +
		"请先同步记录",
	"%d differs from the %d this upload began with; start again from offset 0": "%d 与此次上传开始时的 %d 不同；" +
		"请从第0字节重新上传",
	"%d is past the %d bytes the server holds of this upload; send from %d": "%d 超过了服务器已收到的 %d 字节；" +
		"请从第 %d 字节开始发送",
	"does not begin as an image of a type the server takes (%s)": "开头不是服务器接受的图片类型（%s）",
	"this device's photos on the server (%d bytes) and this one (%d) would pass its quota of %d bytes; ask staff to raise it": "" +
		"本设备在服务器上的照片（%d 字节）加上这张（%d 字节）将超过配额 %d 字节；请联系工作人员提高配额",
	"the server holds %d bytes of this upload, not %d; the upload is discarded: send it again from 0": "" +
		"服务器收到此次上传的 %d 字节，而不是 %d 字节；此次上传已作废，请从第0字节重新上传",
	"the bytes uploaded have the SHA-256 %s, not this digest; the upload is discarded: send it again from 0": "" +
		"上传内容的 SHA-256 是 %s，与此标识不符；此次上传已作废，请从第0字节重新上传",
	"the image would take too much memory to decode (%v); downsize the photo or save it as a baseline JPEG": "图片解码所需内存过多（%v）；请把照片缩小，或存为普通（非渐进式）JPEG",
	"the image has more than %d pixels (%v); downsize the photo":                                            "图片超过 %d 像素（%v）；请把照片缩小",
	"is not a whole image of a type the server takes (%s): %v":                                              "不是服务器接受类型（%s）的完整图片：%v",
	"no photo %s among the records of your villages":                                                        "您所负责的村的记录中没有照片 %s",
	"%d is past the end of the %d bytes":                                                                    "%d 超出了总长 %d 字节",
}

// zhFields names the request fields a refusal can name. A table's and a
// column's Chinese names come from the tables (FieldName), so
// "tutoring_sessions.children_present" needs no entry.
var zhFields = map[string]string{
	"file":              "文件",
	"box_public_key":    "公钥",
	"code":              "注册码",
	"device_name":       "设备名称",
	"token":             "令牌",
	"role":              "角色",
	"rate":              "请求频率",
	"name":              "名称",
	"pinyin":            "拼音",
	"aliases":           "别名",
	"user":              "用户",
	"villages":          "村",
	"village":           "村",
	"ttl_seconds":       "有效期",
	"replica":           "设备",
	"id":                "编号",
	"resolution":        "处理方式",
	"by":                "处理人",
	"limit":             "数量上限",
	"table":             "表",
	"record_id":         "记录编号",
	"open_only":         "只看未处理",
	"resolved_only":     "只看已处理",
	"report":            "报表",
	"from_month":        "起始月份",
	"to_month":          "截止月份",
	"format":            "格式",
	"lang":              "语言",
	"changes":           "改动",
	"server_id":         "服务器编号",
	"schema_version":    "数据版本",
	"version":           "版本",
	"fields":            "字段",
	"tombstone.context": "删除的上下文",
	"digest":            "附件标识",
	"digests":           "附件标识",
	"size":              "大小",
	"offset":            "起始位置",
	"data":              "内容",
}
