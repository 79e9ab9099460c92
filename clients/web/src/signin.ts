// Sign-in is enrollment: a one-time code, typed or read from the QR link
// (#/signin?code=CODE), is exchanged for a device token that this browser
// keeps. The code leaves the address bar the moment it is read. A link
// opened in a browser that is signed in already asks first: signing in
// with it signs the current user out (and revokes this browser's device).
import { access, Code, forgetToken, isCode, ownReplica, SignedOut, token, whoami, withoutSignOut } from "./api";
import { confirmDialog } from "./confirm";
import { h } from "./dom";
import { clearErrors, showError } from "./errors";
import { t } from "./i18n";
import { replace } from "./router";

let flash = "";

// setFlash leaves a sentence for the next sign-in page (why it is shown).
export function setFlash(s: string): void {
  flash = s;
}

export interface SigninDeps {
  live(): boolean;
  busy<T>(f: () => Promise<T>): Promise<T>;
  signedIn(): void;
  keep(token: string, replica: number): void;
}

// deviceName names this browser for the devices list: "console-" and the
// browser, and 4 random hex digits so two browsers of one person differ.
// The server allows any name of 1 to 64 characters without control
// characters; this one is plain ASCII.
export function deviceName(): string {
  const ua = navigator.userAgent;
  const browser = /Edg\//.test(ua) ? "edge"
    : /Firefox\//.test(ua) ? "firefox"
    : /Chrome\/|Chromium\//.test(ua) ? "chrome"
    : /Safari\//.test(ua) ? "safari"
    : "browser";
  const r = new Uint8Array(2);
  crypto.getRandomValues(r);
  const hex = Array.from(r, (b) => b.toString(16).padStart(2, "0")).join("");
  return `console-${browser}-${hex}`;
}

export async function signin(root: HTMLElement, params: URLSearchParams, deps: SigninDeps): Promise<void> {
  const m = t();
  const fromLink = params.get("code")?.trim() ?? "";
  if (params.has("code")) replace("signin");
  if (!fromLink && token()) {
    deps.signedIn();
    return;
  }
  const holder = fromLink && token() ? await signedInAs() : "";
  if (!deps.live()) return;
  const message = h("p", { class: "signin-message", "data-test": "signin-message", role: "status" }, flash);
  flash = "";
  const code = h("input", {
    type: "text", name: "code", "data-test": "code", "data-field": "code", autocomplete: "one-time-code",
    autocapitalize: "characters", spellcheck: "false", inputmode: "text", required: true, class: "code-input",
  });
  code.value = fromLink;
  const button = h("button", { type: "submit", class: "btn primary", "data-test": "signin" }, m.signinButton);
  const form = h("form", { class: "panel signin", novalidate: true },
    h("h1", null, m.signinTitle),
    h("p", null, m.signinIntro),
    message,
    h("div", { class: "form-errors" }),
    h("div", { class: "field" }, h("label", { for: "signin-code" }, m.signinCode), code),
    button);
  code.id = "signin-code";

  const submit = async (): Promise<void> => {
    clearErrors(form);
    const value = code.value.trim();
    if (!value) {
      message.textContent = m.signinNeedCode;
      code.focus();
      return;
    }
    await deps.busy(async () => {
      button.disabled = true;
      message.textContent = m.signinWorking;
      const previous = token() ? { tok: token(), replica: ownReplica() } : null;
      try {
        const res = await access.enroll({ code: value, deviceName: deviceName() });
        deps.keep(res.token, res.replica);
        if (previous) {
          // A browser signed in again leaves no live token behind: the old
          // one is revoked with itself as the caller, best effort (kept
          // after the new one, so its refusal signs nothing out).
          await access.revokeDevice({ replica: previous.replica }, { headers: { Authorization: `Bearer ${previous.tok}` } })
            .catch(() => undefined);
        }
        if (deps.live()) deps.signedIn();
      } catch (e) {
        if (e instanceof SignedOut || !deps.live()) return;
        message.textContent = "";
        showError(form, e);
        button.disabled = false;
      }
    });
  };
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    void submit();
  });
  root.append(form);
  if (holder) {
    // Not awaited: the page is drawn (ready) while the question is open.
    message.textContent = m.signinAlready(holder);
    void confirmDialog(m.signinReplaceQ, m.signinReplaceDetail(holder), m.signinReplaceOk).then((yes) => {
      if (!deps.live()) return;
      if (yes) void submit();
      else deps.signedIn(); // the session stays; the code already left the URL
    });
  } else if (fromLink) {
    message.textContent = m.signinFromLink;
    await submit();
  } else {
    code.focus();
  }
}

// signedInAs names the user this browser is signed in as, or "" when its
// stored token is dead (forgotten here: there is no sign-in to keep, and
// the link's code signs in as it would in a fresh browser). When the
// server cannot say, the question is still asked, naming nobody.
async function signedInAs(): Promise<string> {
  const me = whoami();
  if (me) return me.user;
  try {
    return (await access.whoami({}, withoutSignOut())).user;
  } catch (e) {
    if (isCode(e, Code.Unauthenticated)) {
      forgetToken();
      return "";
    }
    return t().signinCurrentUser;
  }
}
