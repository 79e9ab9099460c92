// A confirmation before anything that changes data or access: a modal
// <dialog> with [data-test=confirm] and [data-test=cancel]; Escape cancels.
import { h } from "./dom";
import { t } from "./i18n";

export function confirmDialog(question: string, detail: string, okLabel: string, danger = false): Promise<boolean> {
  const m = t();
  return new Promise((resolve) => {
    const ok = h("button", { type: "button", class: danger ? "btn danger" : "btn primary", "data-test": "confirm" }, okLabel || m.confirm);
    const cancel = h("button", { type: "button", class: "btn", "data-test": "cancel" }, m.cancel);
    const dialog = h("dialog", { class: "confirm", "aria-labelledby": "confirm-q" },
      h("h2", { id: "confirm-q" }, question),
      detail ? h("p", null, detail) : null,
      h("div", { class: "dialog-actions" }, cancel, ok));
    let answered = false;
    const done = (v: boolean) => {
      if (answered) return;
      answered = true;
      dialog.close();
      dialog.remove();
      resolve(v);
    };
    ok.addEventListener("click", () => done(true));
    cancel.addEventListener("click", () => done(false));
    dialog.addEventListener("cancel", (e) => {
      e.preventDefault();
      done(false);
    });
    document.body.append(dialog);
    dialog.showModal();
    cancel.focus();
  });
}
