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

export function showError(scope: Element, err: unknown): void {
  clearErrors(scope);
  const f = errorField(err);
  const p = h("p", { class: "error", "data-test": "error", "data-field": f, role: "alert" }, errorText(err, t().unreachable));
  const control = f ? scope.querySelector<HTMLElement>(`[data-field="${CSS.escape(f)}"]`) : null;
  if (control) {
    control.setAttribute("aria-invalid", "true");
    const box = control.closest(".field") ?? control;
    box.after(p);
    return;
  }
  const slot = scope.querySelector(".form-errors");
  if (slot) slot.appendChild(p);
  else scope.prepend(p);
}
