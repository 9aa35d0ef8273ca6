package http_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/shopspring/decimal"

	"github.com/parledger/parledger/demo"
	"github.com/parledger/parledger/domain"
)

// chromiumPath is where Debian's chromium package puts the browser.
const chromiumPath = "/usr/bin/chromium"

// TestDashboardInBrowser is the dashboard's end-to-end test, in headless
// Chromium against the real server loaded with the Hanoi 2017 demo: both
// blocks show every unit with the numbers the rankings API gives; the
// breakdown, audit trail, diff, explanations, as-of view and downloads
// work; and, watching a new campaign as Home Affairs, the table and the
// chart change without a reload when a unit records self scores. It
// saves screenshots of each view in screenshots/ (or
// $PARLEDGER_SCREENSHOTS).
func TestDashboardInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("loads the demo and drives a browser (~30 s)")
	}
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is missing; scripts/test installs it (apt-get install chromium)", chromiumPath)
		}
		t.Skipf("%s is missing: install Debian's chromium (apt-get install -y chromium) to run the browser test", chromiumPath)
	}
	began := time.Now()
	step := func(name string, since time.Time) { t.Logf("%-44s %6.2fs", name, time.Since(since).Seconds()) }

	t0 := time.Now()
	d := mustRunDemo(t)
	step("go build; serve --demo: loaded, serving", t0)

	shots := screenshotDir(t)
	t.Logf("screenshots: %s", shots)
	t0 = time.Now()
	b := newBrowser(t, shots)
	step("browser started", t0)

	anon := d.api("")
	ha := d.api(d.tokens["home-affairs"])
	const campaign = "/api/v1/campaigns/" + demo.CampaignID

	// 1. The public opens the published campaign: both blocks, all units,
	// the API's numbers, in the table and in the chart.
	t0 = time.Now()
	b.navigate(d.url + "/#v=xep-hang&b=so")
	b.waitFor(`document.body.dataset.ready === 'true' && document.querySelectorAll('#rk-table tbody tr[data-unit]').length > 0`, "the rankings table")
	b.waitFor(`document.getElementById('live').dataset.state === 'open'`, "the live stream")
	var public rankingsBody
	anon.get(campaign+"/rankings", &public)
	b.checkRankings("rk", public, "so", 22)
	step("public: khối sở, 22 units checked", t0)
	b.shot("01-xep-hang-khoi-so")

	t0 = time.Now()
	b.click(`#view-xep-hang .blocks button[data-block="huyen"]`)
	b.waitFor(`document.querySelectorAll('#rk-table tbody tr[data-unit]').length === 30`, "30 districts")
	b.checkRankings("rk", public, "huyen", 30)
	step("public: khối quận, huyện, 30 units checked", t0)
	b.shot("02-xep-hang-khoi-huyen")

	// 2. Printing shows the tables without the controls.
	t0 = time.Now()
	b.media("print")
	if hidden := evalJS[bool](b, `['.topbar', '.tabs', '#view-xep-hang figure.chart', '#view-xep-hang .view-head'].every(s => getComputedStyle(document.querySelector(s)).display === 'none')`); !hidden {
		t.Errorf("print: the controls or the chart are printed")
	}
	b.fullShot("03-ban-in-xep-hang")
	b.media("")
	step("print stylesheet", t0)

	// 3. Downloads, as the public: the files are the API's.
	t0 = time.Now()
	b.click(`#rk-csv`)
	csv := b.download("xep-hang-" + demo.CampaignID + ".csv")
	if want := anon.must(200, "GET", campaign+"/rankings?format=csv", nil); !bytes.Equal(csv, want) {
		t.Errorf("downloaded CSV (%d bytes) differs from the API's (%d bytes)", len(csv), len(want))
	}
	if !bytes.Contains(csv, []byte("UBND quận Cầu Giấy")) {
		t.Errorf("the CSV lacks UBND quận Cầu Giấy")
	}
	b.click(`#rk-xlsx`)
	if xlsx := b.download("xep-hang-" + demo.CampaignID + ".xlsx"); !bytes.HasPrefix(xlsx, []byte("PK\x03\x04")) {
		t.Errorf("the XLSX download is not a workbook: % x", xlsx[:min(8, len(xlsx))])
	}
	step("downloads: rankings CSV and XLSX", t0)

	// 4. A unit's breakdown by area: click its line.
	t0 = time.Now()
	b.click(`#rk-table tr[data-unit="005"]`)
	b.waitFor(`document.body.dataset.view === 'don-vi' && document.getElementById('area-unit').value === '005' && document.querySelectorAll('#area-table tbody tr[data-area]').length > 0`, "the area breakdown")
	b.checkAreas(public, "005")
	step("breakdown by area of 005", t0)
	b.shot("04-theo-linh-vuc")

	// 5. Home Affairs signs in; the token stays out of the URL.
	t0 = time.Now()
	b.typeText(`#token`, d.tokens["home-affairs"])
	b.click(`#login-btn`)
	b.waitFor(`document.body.dataset.role === 'home-affairs'`, "the sign-in")
	if loc := evalJS[string](b, `location.href`); strings.Contains(loc, "plt_") {
		t.Errorf("the token is in the URL: %s", loc)
	}
	if evalJS[int](b, `localStorage.length`) != 0 {
		t.Errorf("the page wrote to localStorage")
	}
	step("sign-in as Home Affairs", t0)

	// 6. The audit trail of 005, all of it, then by item and actor.
	t0 = time.Now()
	var trail struct {
		Entries []struct {
			Revision uint64
			Item     string
			Actor    struct{ ID string }
		}
	}
	ha.get(campaign+"/assessments/005/audit", &trail)
	b.click(`#tabs button[data-view="nhat-ky"]`)
	b.waitFor(fmt.Sprintf(`document.querySelectorAll('#audit-table tbody tr[data-revision]').length === %d`, len(trail.Entries)), "the whole audit trail")
	b.typeText(`#audit-item`, "1.1.1")
	b.click(`#audit-form button[type="submit"]`)
	var byItem struct {
		Entries []struct{ Actor struct{ ID string } }
	}
	ha.get(campaign+"/assessments/005/audit?item=1.1.1", &byItem)
	b.waitFor(fmt.Sprintf(`document.querySelectorAll('#audit-table tbody tr[data-revision]').length === %d`, len(byItem.Entries)), "the trail of item 1.1.1")
	if items := evalJS[[]string](b, `[...document.querySelectorAll('#audit-table tbody tr[data-revision] td:nth-child(4)')].map(td => td.textContent)`); len(items) == 0 || strings.Join(items, "") != strings.Repeat("1.1.1", len(items)) {
		t.Errorf("the item filter shows items %v", items)
	}
	b.shot("05-nhat-ky-loc-theo-tieu-chi")
	b.click(`#audit-csv`)
	auditCSV := b.download("nhat-ky-" + demo.CampaignID + "-005.csv")
	if want := ha.must(200, "GET", campaign+"/assessments/005/audit?item=1.1.1&format=csv", nil); !bytes.Equal(auditCSV, want) {
		t.Errorf("downloaded audit CSV (%d bytes) differs from the API's (%d bytes)", len(auditCSV), len(want))
	}
	actor := byItem.Entries[len(byItem.Entries)-1].Actor.ID
	b.setValue(`#audit-actor`, actor)
	b.click(`#audit-form button[type="submit"]`)
	var byActor struct{ Entries []json.RawMessage }
	ha.get(campaign+"/assessments/005/audit?item=1.1.1&actor="+actor, &byActor)
	b.waitFor(fmt.Sprintf(`document.querySelectorAll('#audit-table tbody tr[data-revision]').length === %d && document.getElementById('audit-meta').textContent.includes('khớp bộ lọc')`, len(byActor.Entries)), "the trail of 1.1.1 by "+actor)
	step("audit trail: all, by item, by actor; CSV", t0)

	// An event of the trail, with its inclusion in a signed checkpoint.
	t0 = time.Now()
	ha.publishCheckpoint()
	b.click(`#audit-table tbody tr[data-position]`)
	b.waitFor(`document.getElementById('event-proof').dataset.included === 'yes'`, "the event's inclusion proof")
	if text := evalJS[string](b, `document.getElementById('event-proof').textContent`); !strings.Contains(text, "đã kiểm chứng") {
		t.Errorf("event proof status %q", text)
	}
	b.shot("05b-su-kien-va-bang-chung")
	step("an event and its inclusion proof", t0)

	// 7. A diff between two versions of 005.
	t0 = time.Now()
	from, to := trail.Entries[20].Revision, trail.Entries[len(trail.Entries)-1].Revision
	var diff struct{ Items, Events []json.RawMessage }
	ha.get(fmt.Sprintf("%s/assessments/005/diff?from=%d&to=%d", campaign, from, to), &diff)
	b.click(`#tabs button[data-view="so-sanh"]`)
	b.waitFor(`document.querySelectorAll('#diff-to option').length > 20`, "the versions")
	b.setValue(`#diff-from`, fmt.Sprint(from))
	b.setValue(`#diff-to`, fmt.Sprint(to))
	b.click(`#diff-form button[type="submit"]`)
	b.waitFor(fmt.Sprintf(`document.querySelectorAll('#diff-table tbody tr[data-item]').length === %d && document.querySelectorAll('#diff-events tbody tr[data-revision]').length === %d`, len(diff.Items), len(diff.Events)), "the diff")
	step(fmt.Sprintf("diff %d→%d: %d items, %d events", from, to, len(diff.Items), len(diff.Events)), t0)
	b.shot("06-so-sanh-phien-ban")

	// 8. Explanations: none open after publication; all with the toggle.
	t0 = time.Now()
	var expl struct{ Explanations []json.RawMessage }
	ha.get(campaign+"/explanations", &expl)
	b.click(`#tabs button[data-view="giai-trinh"]`)
	b.waitFor(`document.getElementById('expl-meta').textContent.includes('Hạn giải trình: 10/12/2017')`, "the explanations' deadline")
	b.click(`#expl-all`)
	b.waitFor(fmt.Sprintf(`document.querySelectorAll('#expl-table tbody tr[data-id]').length === %d`, len(expl.Explanations)), "every explanation")
	step(fmt.Sprintf("explanations: %d, with deadline", len(expl.Explanations)), t0)
	b.shot("07-giai-trinh")

	// 9. Rankings as they stood at 17:00 on 15/11/2017, the appraisal
	// deadline.
	t0 = time.Now()
	b.click(`#tabs button[data-view="thoi-diem"]`)
	b.typeText(`#asof-date`, "15/11/2017")
	b.clear(`#asof-time`)
	b.typeText(`#asof-time`, "17:00")
	b.click(`#asof-form button[type="submit"]`)
	b.waitFor(`document.getElementById('asof-table').dataset.at === '2017-11-15T17:00:00+07:00' && document.querySelectorAll('#asof-table tbody tr[data-unit]').length === 30`, "the rankings as of 15/11/2017 17:00")
	var then rankingsBody
	ha.get(campaign+"/rankings?at=2017-11-15T17:00:00%2B07:00", &then)
	b.checkRankings("asof", then, "huyen", 30)
	if then.Position >= public.Position {
		t.Errorf("as-of position %d is not before the current %d", then.Position, public.Position)
	}
	step("as-of view 15/11/2017 17:00 checked", t0)
	b.shot("08-xep-hang-theo-thoi-diem")

	// 10. A new campaign, watched live as Home Affairs while units score
	// themselves.
	t0 = time.Now()
	live := d.openLiveCampaign(t)
	b.click(`#tabs button[data-view="xep-hang"]`)
	// Going to the campaign list reads it again: the new one is there.
	b.do(chromedp.Focus(chromedp.CSS(`#campaign`)))
	b.waitFor(fmt.Sprintf(`[...document.querySelectorAll('#campaign option')].some(o => o.value === %q)`, live.id), "the new campaign in the list")
	b.setValue(`#campaign`, live.id)
	b.waitFor(`document.getElementById('live').dataset.state === 'open' && document.querySelectorAll('#rk-table tbody tr[data-unit]').length === 30 && [...document.querySelectorAll('#rk-table tbody tr[data-unit]')].every(tr => tr.dataset.index === '0')`, "the new campaign's rankings")
	var before rankingsBody
	ha.get(live.path+"/rankings", &before)
	b.checkRankings("rk", before, "huyen", 30)
	b.shot("09-truc-tiep-truoc-khi-cham")
	marker := fmt.Sprintf("no-reload-%d", time.Now().UnixNano())
	evalJS[string](b, fmt.Sprintf(`window.__marker = %q`, marker))
	step("new campaign open in the browser", t0)

	for _, unit := range []string{"005", "001"} {
		t0 = time.Now()
		d.api(d.tokens["unit "+unit]).must(201, "POST", live.path+"/assessments/"+unit+"/self-scores", live.scores[unit])
		var after rankingsBody
		ha.get(live.path+"/rankings", &after)
		idx := indexIn(after, unit)
		if idx == "0" {
			t.Fatalf("%s still at 0 after its self scores", unit)
		}
		b.waitFor(fmt.Sprintf(`(() => { const tr = document.querySelector('#rk-table tr[data-unit=%q]'); const bar = document.querySelector('#rk-chart g.bar[data-key=%q]'); return tr && tr.dataset.index === %q && bar && bar.dataset.value === %q; })()`, unit, unit, idx, vnPercent(idx)), "the live update of "+unit)
		if got := evalJS[string](b, `String(window.__marker)`); got != marker {
			t.Fatalf("the page reloaded (marker %q)", got)
		}
		b.checkRankings("rk", after, "huyen", 30)
		step(fmt.Sprintf("live: %s self-scored, index %s in table and chart", unit, idx), t0)
	}
	if !evalJS[bool](b, `document.querySelector('#rk-table tr[data-unit="001"]').classList.contains('changed')`) {
		t.Errorf("the changed line is not marked")
	}
	b.shot("10-truc-tiep-sau-khi-cham")

	// 11. The campaign's progress: phase, days left, who has not submitted.
	t0 = time.Now()
	var status struct {
		Phase        string   `json:"phase"`
		DaysLeft     int      `json:"daysLeft"`
		NotSubmitted []string `json:"notSubmitted"`
	}
	ha.get(live.path, &status)
	b.click(`#tabs button[data-view="tien-do"]`)
	b.waitFor(fmt.Sprintf(`document.querySelectorAll('#status-missing tbody tr[data-unit]').length === %d && document.getElementById('status-cards').textContent.includes('Tự đánh giá') && document.getElementById('status-cards').textContent.includes('%d ngày')`, len(status.NotSubmitted), status.DaysLeft), "the campaign's progress")
	step(fmt.Sprintf("progress: %s, %d days left, %d not submitted", status.Phase, status.DaysLeft, len(status.NotSubmitted)), t0)
	b.shot("11-tien-do")

	if problems := b.consoleProblems(); len(problems) > 0 {
		t.Errorf("the page reported errors:\n%s", strings.Join(problems, "\n"))
	}

	// 12. The server stops while the page listens: its stream ends at
	// once, so the server does not wait for it, and the page says that it
	// is reconnecting.
	t0 = time.Now()
	if took := d.stop(15 * time.Second); took > 8*time.Second {
		t.Errorf("parledger took %s to stop with a live stream open", took)
	}
	b.waitFor(`['reconnecting', 'connecting'].includes(document.getElementById('live').dataset.state)`, "the page to notice the server went")
	step("server stopped (SIGINT) with the page listening", t0)
	step("whole browser test", began)
}

// demoServer is `parledger serve --demo`, built from this repository
// and run as its own process on a loopback port.
type demoServer struct {
	t    *testing.T
	cmd  *exec.Cmd
	url  string
	dir  string
	logs *syncBuffer
	// tokens are the demo's secrets by role ("home-affairs", "auditor")
	// or, for units, "unit CODE".
	tokens  map[string]string
	exited  chan error
	stopped bool
}

// servingURL finds the address in serve's "parledger serving" log line.
var servingURL = regexp.MustCompile(`msg="parledger serving" url=(http://127\.0\.0\.1:\d+)`)

// mustRunDemo builds cmd/parledger, starts `serve --demo` on a free
// loopback port with a new data directory, waits until it serves, and
// reads the demo's credentials. The server is stopped with SIGINT when
// the test ends.
func mustRunDemo(t *testing.T) *demoServer {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "parledger")
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to build parledger: %v", err)
	}
	build := exec.Command(goTool, "build", "-o", bin, "../cmd/parledger")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/parledger: %v\n%s", err, out)
	}
	d := &demoServer{t: t, dir: t.TempDir(), logs: &syncBuffer{}, tokens: map[string]string{}, exited: make(chan error, 1)}
	d.cmd = exec.Command(bin, "serve", "--demo", "--data", d.dir, "--addr", "127.0.0.1:0")
	d.cmd.Stdout = io.Discard
	stderr, err := d.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := d.cmd.Start(); err != nil {
		t.Fatalf("start parledger: %v", err)
	}
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(d.logs, line)
			if m := servingURL.FindStringSubmatch(line); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
		}
		d.exited <- d.cmd.Wait()
	}()
	t.Cleanup(func() { d.stop(10 * time.Second) })
	select {
	case d.url = <-found:
	case err := <-d.exited:
		d.exited <- err
		t.Fatalf("parledger exited before serving: %v\n%s", err, d.logs.String())
	case <-time.After(3 * time.Minute):
		t.Fatalf("parledger did not serve within 3 minutes:\n%s", d.logs.String())
	}
	b, err := os.ReadFile(filepath.Join(d.dir, "demo-tokens.txt"))
	if err != nil {
		t.Fatalf("demo credentials: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 3 || strings.HasPrefix(line, "#") {
			continue
		}
		key := f[0]
		if key == string(domain.RoleUnit) {
			key = "unit " + f[1]
		}
		d.tokens[key] = f[len(f)-1]
	}
	for _, k := range []string{"home-affairs", "auditor", "unit 005", "unit 001"} {
		if d.tokens[k] == "" {
			t.Fatalf("demo-tokens.txt has no credential for %s", k)
		}
	}
	return d
}

// stop interrupts the server as Ctrl-C would and waits for it to end; it
// kills it after timeout. It returns how long the server took, and fails
// the test if the server logged an error or did not end in time.
func (d *demoServer) stop(timeout time.Duration) time.Duration {
	if d.stopped {
		return 0
	}
	d.stopped = true
	start := time.Now()
	_ = d.cmd.Process.Signal(syscall.SIGINT)
	select {
	case err := <-d.exited:
		d.exited <- err
		if err != nil {
			d.t.Errorf("parledger exited with %v", err)
		}
	case <-time.After(timeout):
		_ = d.cmd.Process.Kill()
		d.t.Errorf("parledger did not stop within %s of SIGINT", timeout)
		d.exited <- <-d.exited
	}
	if l := d.logs.String(); strings.Contains(l, "level=ERROR") {
		d.t.Errorf("parledger logged an error:\n%s", l)
	}
	return time.Since(start)
}

// api returns a client of the server's API with a credential ("" for the
// public).
func (d *demoServer) api(token string) apiClient {
	return apiClient{t: d.t, base: d.url, token: token}
}

// apiClient calls the API of a server in another process.
type apiClient struct {
	t           *testing.T
	base, token string
}

var apiHTTP = &http.Client{Timeout: requestTimeout}

// must sends a request, body encoded as JSON, and fails the test unless
// the answer has status want; it returns the body.
func (c apiClient) must(want int, method, path string, body any) []byte {
	c.t.Helper()
	status, b := c.do(method, path, body)
	if status != want {
		c.t.Fatalf("%s %s: status %d, want %d: %s", method, path, status, want, b)
	}
	return b
}

// do sends a request, body encoded as JSON, and returns the answer's
// status and body.
func (c apiClient) do(method, path string, body any) (int, []byte) {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		j, err := json.Marshal(body)
		if err != nil {
			c.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := apiHTTP.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	return resp.StatusCode, b
}

// publishCheckpoint asks for a signed checkpoint of the whole ledger: 201
// when one is recorded, 200 when the server's own publisher (which signs
// one as it starts) already recorded one of this size.
func (c apiClient) publishCheckpoint() {
	c.t.Helper()
	if status, b := c.do("POST", "/api/v1/ledger/checkpoints", nil); status != 201 && status != 200 {
		c.t.Fatalf("publish a checkpoint: status %d: %s", status, b)
	}
}

// get reads a JSON answer into v.
func (c apiClient) get(path string, v any) {
	c.t.Helper()
	b := c.must(200, "GET", path, nil)
	if err := json.Unmarshal(b, v); err != nil {
		c.t.Fatalf("GET %s: %v: %s", path, err, b)
	}
}

// liveCampaign is a campaign the browser test opens in real time.
type liveCampaign struct {
	id, path string
	// scores are self scores each unit records, copied from its demo
	// assessment.
	scores map[string]any
}

// openLiveCampaign opens a campaign with the demo's frameworks and
// deadlines ahead, enrols the demo's 52 units, and prepares self scores
// for 005 and 001 from what they recorded in 2017.
func (d *demoServer) openLiveCampaign(t *testing.T) liveCampaign {
	t.Helper()
	ha := d.api(d.tokens["home-affairs"])
	c := liveCampaign{id: "theo-doi-truc-tiep", scores: map[string]any{}}
	c.path = "/api/v1/campaigns/" + c.id
	var old struct{ Units []domain.Unit }
	ha.get("/api/v1/campaigns/"+demo.CampaignID, &old)
	ha.must(201, "POST", "/api/v1/campaigns", map[string]any{
		"id": c.id, "year": time.Now().In(hanoi).Year(), "title": "Theo dõi trực tiếp: Chỉ số CCHC (thử nghiệm trên trình duyệt)",
		"calendar":   map[string]string{"selfAssessmentDue": day(10), "appraisalDue": day(20)},
		"frameworks": map[string]any{"so": map[string]any{"id": "hanoi-2017-so", "version": 1}, "huyen": map[string]any{"id": "hanoi-2017-huyen", "version": 1}},
	})
	ha.must(201, "POST", c.path+"/units", map[string]any{"units": old.Units})
	for _, unit := range []string{"005", "001"} {
		var a struct {
			Items []struct {
				Code     string
				Self     *string
				SelfNote string
			}
		}
		d.api(d.tokens["auditor"]).get("/api/v1/campaigns/"+demo.CampaignID+"/assessments/"+unit, &a)
		var scores []map[string]any
		for _, it := range a.Items {
			if it.Self != nil && len(scores) < 15 {
				scores = append(scores, map[string]any{"item": it.Code, "points": *it.Self, "note": it.SelfNote})
			}
		}
		if len(scores) == 0 {
			t.Fatalf("unit %s has no self scores in the demo", unit)
		}
		c.scores[unit] = map[string]any{"scores": scores}
	}
	return c
}

// indexIn returns a unit's index in rankings.
func indexIn(rk rankingsBody, unit string) string {
	for _, b := range rk.Blocks {
		for _, r := range b.Rows {
			if r.UnitCode == unit {
				return r.Score.Index
			}
		}
	}
	return ""
}

// vnDecimal writes a decimal as the dashboard does: a comma, a true minus.
func vnDecimal(s string) string {
	return strings.Replace(strings.Replace(s, "-", "−", 1), ".", ",", 1)
}

// vnPercent writes an index with two decimals and a comma.
func vnPercent(s string) string {
	return strings.Replace(decimal.RequireFromString(s).StringFixed(2), ".", ",", 1)
}

// statusVN are the dashboard's words for assessment statuses.
var statusVN = map[string]string{"not-started": "Chưa tự chấm", "in-progress": "Đang tự chấm", "submitted": "Đã nộp", "finalized": "Đã chốt điểm"}

// page drives one tab of headless Chromium.
type page struct {
	t     *testing.T
	ctx   context.Context
	shots string
	dl    string

	mu       sync.Mutex
	problems []string
}

// newBrowser starts Chromium headless with a fresh profile, a 1366×768
// window, downloads into a temporary folder, and the page's console
// watched for errors.
func newBrowser(t *testing.T, shots string) *page {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1366, 768),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-features", "Translate,MediaRouter,OptimizationHints"),
		chromedp.Flag("lang", "vi-VN"),
		chromedp.Flag("hide-scrollbars", true),
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	p := &page{t: t, ctx: ctx, shots: shots, dl: t.TempDir()}
	// The first call starts the browser: it must not run under a timeout.
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.IsException() {
				p.mu.Lock()
				p.problems = append(p.problems, fmt.Sprintf("%s (%s:%d)", m, m.URL, m.Line))
				p.mu.Unlock()
			}
		}
	}()
	if _, err := chromedp.CallBrowser(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllow, DownloadPath: p.dl,
	}); err != nil {
		t.Fatalf("download folder: %v", err)
	}
	p.do(chromedp.EmulateViewport(1366, 768))
	return p
}

func (p *page) consoleProblems() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.problems...)
}

// do runs actions, bounded in time; it fails the test with a screenshot.
func (p *page) do(actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		p.fail("browser: %v", err)
	}
}

func (p *page) fail(format string, args ...any) {
	p.t.Helper()
	p.shot("loi-" + time.Now().Format("150405.000"))
	p.t.Fatalf(format, args...)
}

func (p *page) navigate(url string) { p.t.Helper(); p.do(chromedp.Navigate(url)) }

func (p *page) click(css string) {
	p.t.Helper()
	p.do(chromedp.Click(chromedp.CSS(css), chromedp.NodeVisible))
}

func (p *page) typeText(css, text string) {
	p.t.Helper()
	p.do(chromedp.SendKeys(chromedp.CSS(css), text, chromedp.NodeVisible))
}

func (p *page) clear(css string) {
	p.t.Helper()
	evalJS[string](p, fmt.Sprintf(`document.querySelector(%q).value = ''`, css))
}

// setValue picks a value of a <select> as a person would: it changes and
// the page hears a change event.
func (p *page) setValue(css, value string) {
	p.t.Helper()
	got := evalJS[string](p, fmt.Sprintf(`(() => { const s = document.querySelector(%q); s.value = %q; s.dispatchEvent(new Event('change', {bubbles: true})); return s.value; })()`, css, value))
	if got != value {
		p.fail("%s has no option %q", css, value)
	}
}

// media emulates a CSS media type ("print"), or none with "".
func (p *page) media(m string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	defer cancel()
	if _, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Media: m}); err != nil {
		p.fail("emulate media %q: %v", m, err)
	}
}

// evalJS evaluates a JavaScript expression in the page.
func evalJS[T any](p *page, expr string) T {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		p.fail("evaluate %s: %v", expr, err)
	}
	return v
}

// waitFor polls a JavaScript condition until it holds, for 20 seconds.
func (p *page) waitFor(cond, what string) {
	p.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ok := evalJS[bool](p, "!!("+cond+")")
		if ok {
			return
		}
		if time.Now().After(deadline) {
			msg := evalJS[string](p, `document.getElementById('message').hidden ? '' : document.getElementById('message-text').textContent`)
			p.fail("waited 20s for %s; the page says %q", what, msg)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// shot saves a screenshot of the window as name.png.
func (p *page) shot(name string) { p.save(name, chromedp.CaptureScreenshot()) }

// fullShot saves a screenshot of the whole page as name.png.
func (p *page) fullShot(name string) { p.save(name, chromedp.FullScreenshot(100)) }

func (p *page) save(name string, a chromedp.Action[[]byte]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 20*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, a)
	if err != nil {
		p.t.Errorf("screenshot %s: %v", name, err)
		return
	}
	if err := os.WriteFile(filepath.Join(p.shots, name+".png"), png, 0o644); err != nil {
		p.t.Errorf("save screenshot %s: %v", name, err)
	}
}

// download waits for the browser to finish saving name and returns it.
func (p *page) download(name string) []byte {
	p.t.Helper()
	path := filepath.Join(p.dl, name)
	deadline := time.Now().Add(20 * time.Second)
	for {
		if b, err := os.ReadFile(path); err == nil && len(b) > 0 {
			if _, err := os.Stat(path + ".crdownload"); os.IsNotExist(err) {
				_ = os.Remove(path) // the next download of it keeps its name
				return b
			}
		}
		if time.Now().After(deadline) {
			entries, _ := os.ReadDir(p.dl)
			var names []string
			for _, e := range entries {
				names = append(names, e.Name())
			}
			p.fail("no download %s within 20s (folder holds %v)", name, names)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// tableRow is a rankings line as the page shows it.
type tableRow struct {
	Unit  string   `json:"unit"`
	Index string   `json:"index"`
	Cells []string `json:"cells"`
}

// bar is a bar of a chart as the page draws it.
type bar struct {
	Key   string  `json:"key"`
	Value string  `json:"value"`
	Width float64 `json:"width"`
}

// checkRankings compares the table and the chart of a rankings view
// ("rk" or "asof") with the API's rankings of one block, line by line and
// cell by cell.
func (p *page) checkRankings(view string, rk rankingsBody, block string, units int) {
	p.t.Helper()
	rows := evalJS[[]tableRow](p, fmt.Sprintf(`[...document.querySelectorAll('#%s-table tbody tr[data-unit]')].map(tr => ({unit: tr.dataset.unit, index: tr.dataset.index, cells: [...tr.cells].map(td => td.textContent)}))`, view))
	bars := evalJS[[]bar](p, fmt.Sprintf(`[...document.querySelectorAll('#%s-chart g.bar')].map(g => ({key: g.dataset.key, value: g.dataset.value, width: +g.querySelector('rect').getAttribute('width')}))`, view))
	var want []tableRow
	for _, b := range rk.Blocks {
		if b.Block != block {
			continue
		}
		for _, r := range b.Rows {
			star := ""
			if r.Score.Provisional {
				star = "*"
			}
			bonus := "0"
			switch {
			case r.Score.Bonus != "0" && r.Score.Penalty != "0":
				bonus = "+" + vnDecimal(r.Score.Bonus) + " / −" + vnDecimal(r.Score.Penalty)
			case r.Score.Bonus != "0":
				bonus = "+" + vnDecimal(r.Score.Bonus)
			case r.Score.Penalty != "0":
				bonus = "−" + vnDecimal(r.Score.Penalty)
			}
			want = append(want, tableRow{Unit: r.UnitCode, Index: r.Score.Index, Cells: []string{
				fmt.Sprint(r.Rank), r.UnitName, vnPercent(r.Score.Index) + star, vnDecimal(r.Score.Self), vnDecimal(r.Score.Appraised),
				vnDecimal(r.Score.Survey), bonus, r.Grade, statusVN[r.Status],
			}})
		}
	}
	if len(want) != units {
		p.t.Fatalf("the API's block %s has %d units, want %d", block, len(want), units)
	}
	if len(rows) != len(want) || len(bars) != len(want) {
		p.fail("block %s: the page shows %d lines and %d bars, the API %d units", block, len(rows), len(bars), len(want))
	}
	for i := range want {
		if fmt.Sprint(rows[i]) != fmt.Sprint(want[i]) {
			p.t.Errorf("block %s line %d:\n got %v\nwant %v", block, i+1, rows[i], want[i])
		}
		if bars[i].Key != want[i].Unit || bars[i].Value != vnPercent(want[i].Index) {
			p.t.Errorf("block %s bar %d: %s %s, want %s %s", block, i+1, bars[i].Key, bars[i].Value, want[i].Unit, vnPercent(want[i].Index))
		}
		// Bars are to scale: a higher index, a longer bar.
		if i > 0 && rows[i].Index != rows[i-1].Index && bars[i].Width > bars[i-1].Width {
			p.t.Errorf("block %s: bar %d (%s) is longer than bar %d (%s)", block, i+1, bars[i].Value, i, bars[i-1].Value)
		}
	}
	// Ties share a rank, and the page marks them.
	for i := 1; i < len(want); i++ {
		if want[i].Cells[0] == want[i-1].Cells[0] && rows[i].Cells[0] != rows[i-1].Cells[0] {
			p.t.Errorf("block %s: tied lines %d and %d show ranks %s and %s", block, i, i+1, rows[i-1].Cells[0], rows[i].Cells[0])
		}
	}
}

// checkAreas compares the area table of a unit with the API's.
func (p *page) checkAreas(rk rankingsBody, unit string) {
	p.t.Helper()
	got := evalJS[[][]string](p, `[...document.querySelectorAll('#area-table tbody tr[data-area]')].map(tr => [...tr.cells].map(td => td.textContent))`)
	var want [][]string
	for _, b := range rk.Blocks {
		for _, r := range b.Rows {
			if r.UnitCode != unit || r.Score.Areas == nil {
				continue
			}
			for i, a := range b.Areas {
				want = append(want, []string{a.Code, a.Title, vnDecimal(a.Max), vnDecimal(r.Score.Areas.Achieved[i]), vnPercent(r.Score.Areas.Index[i])})
			}
		}
	}
	if len(got) != len(want) || len(want) == 0 {
		p.fail("areas of %s: the page shows %d, the API %d", unit, len(got), len(want))
	}
	for i := range want {
		if fmt.Sprint(got[i]) != fmt.Sprint(want[i]) {
			p.t.Errorf("area %d of %s: got %v, want %v", i+1, unit, got[i], want[i])
		}
	}
	if n := evalJS[int](p, `document.querySelectorAll('#area-chart g.bar').length`); n != len(want) {
		p.t.Errorf("the area chart has %d bars, want %d", n, len(want))
	}
}
