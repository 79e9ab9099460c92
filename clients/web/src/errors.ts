// A refused call's message goes next to the field the server named
// (ErrorDetail.field), as [data-test=error][data-field=FIELD]; a message
// naming no field of the form goes at the form's top. What was typed stays.
import { errorField, errorText } from "./api";
import { h } from "./dom";
import { t } from "./i18n";

export function clearErrors(scope: Element): void {
  scope.querySelectorAll("[data-test=error]").forEach((e) => e.remove());
  scope.querySelectorAll("[aria-invalid]").forEach((e) => e.removeAttribute("aria-invalid"));
}

// Server messages start with the field at fault ("villages: ..."): where
// a refusal carries no ErrorDetail, that prefix names the field, if this
// form has one of that name.
const prefix = /^([a-z][a-z0-9_]*): /;

export function showError(scope: Element, err: unknown): void {
  clearErrors(scope);
  const text = errorText(err, t().unreachable);
  const find = (f: string) => (f ? scope.querySelector<HTMLElement>(`[data-field="${CSS.escape(f)}"]`) : null);
  let f = errorField(err);
  if (!f) {
    const named = prefix.exec(text)?.[1] ?? "";
    if (find(named)) f = named;
  }
  const p = h("p", { class: "error", "data-test": "error", "data-field": f, role: "alert" }, text);
  const control = find(f);
  if (control) {
    control.setAttribute("aria-invalid", "true");
    control.after(p);
    return;
  }
  const slot = scope.querySelector(".form-errors");
  if (slot) slot.appendChild(p);
  else scope.prepend(p);
}
