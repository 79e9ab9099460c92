package console

import (
	"bytes"
	"fmt"
	"image"
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/futian-xiaomo/villagesync/cmd/villagesync/internal/systest/chromium"

	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/qrcode"
)

// The harness on a plain page of its own: a failure here is the
// harness's (or the browser's), not the console's.
func TestHarness(t *testing.T) {
	chromium.Browser(t)
	var base string
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<!doctype html><html lang="zh"><head><meta charset="utf-8"><script src="/app.js"></script></head>
<body><img data-test="enroll-qr" src="/qr.png"><button data-test="download-csv">下载</button></body></html>`)
	})
	mux.HandleFunc("/app.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript")
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		fmt.Fprint(w, `addEventListener("DOMContentLoaded", async () => {
  const r = await fetch("/rpc", {method: "POST", headers: {"Content-Type": "application/proto"}, body: new Uint8Array([1, 2])});
  document.body.dataset.rpc = String(r.status);
  document.querySelector("[data-test=download-csv]").onclick = () => {
    const a = document.createElement("a");
    a.href = URL.createObjectURL(new Blob(["\ufeffa,b\n1,2\n"], {type: "text/csv"}));
    a.download = "report.csv"; a.click();
  };
  document.body.dataset.page = "signin"; document.body.dataset.ready = "";
});`)
	})
	mux.HandleFunc("/rpc", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/proto")
		w.Write([]byte("\x0a\x06南"))
	})
	mux.HandleFunc("/qr.png", func(w http.ResponseWriter, r *http.Request) {
		m, err := qrcode.NewQRCodeWriter().Encode(base+"/#/signin?code=abc", gozxing.BarcodeFormat_QR_CODE, 200, 200, nil)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		png.Encode(w, m)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	base = srv.URL

	d := newDevice(t, base, laptop)
	d.open("#/signin", "signin")
	d.WaitFor("the RPC answer", `document.body.dataset.rpc === "200"`)
	var rpc *exchange
	for _, x := range d.settled() {
		if strings.HasSuffix(x.URL, "/rpc") {
			rpc = &x
		}
	}
	if rpc == nil || !bytes.Contains(rpc.Body, []byte("南")) || !bytes.Equal(rpc.PostData, []byte{1, 2}) {
		t.Fatalf("the POST's exchange was not recorded whole: %+v", rpc)
	}
	if got, want := decodeQR(t, d.elementShot("[data-test=enroll-qr]", 1)), base+"/#/signin?code=abc"; got != want {
		t.Errorf("QR: %q, want %q", got, want)
	}
	dir := t.TempDir()
	name, path := d.download("[data-test=download-csv]", dir)
	b, err := os.ReadFile(path)
	if name != "report.csv" || err != nil || !bytes.HasPrefix(b, []byte("\ufeffa,b")) {
		t.Errorf("download: %q at %s: %q, %v", name, path, b, err)
	}
	mark := d.mark()
	d.navigate("about:blank")
	d.open("#/other", "signin")
	seen := false
	for _, x := range d.since(mark) {
		if strings.HasSuffix(x.URL, "/app.js") {
			seen = true
			if !x.Cached {
				t.Errorf("app.js was fetched again: %+v", x)
			}
		}
	}
	if !seen {
		t.Errorf("the second load did not ask for app.js at all")
	}
}

// decodeQR reads the QR code in a PNG, with a white margin around it as
// the page's background gives a phone's camera.
func decodeQR(t testing.TB, pngBytes []byte) string {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(pngBytes))
	if err != nil {
		t.Fatalf("QR screenshot: %v", err)
	}
	bmp, err := gozxing.NewBinaryBitmapFromImage(padded(img, 16))
	if err != nil {
		t.Fatalf("QR screenshot: %v", err)
	}
	res, err := qrcode.NewQRCodeReader().Decode(bmp, map[gozxing.DecodeHintType]any{gozxing.DecodeHintType_TRY_HARDER: true})
	if err != nil {
		t.Fatalf("decode the QR code: %v", err)
	}
	return res.GetText()
}

func padded(img image.Image, margin int) image.Image {
	b := img.Bounds()
	out := image.NewRGBA(image.Rect(0, 0, b.Dx()+2*margin, b.Dy()+2*margin))
	for i := range out.Pix {
		out.Pix[i] = 0xff
	}
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			out.Set(x-b.Min.X+margin, y-b.Min.Y+margin, img.At(x, y))
		}
	}
	return out
}
