package delivery

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/saletrack/caddy-saletrack/sale"
)

// bindLead is a lead tying customer to click, with the customer's email.
func bindLead(customer, click, email string) *sale.Event {
	return &sale.Event{Kind: sale.KindLead, EventName: "sign_up", CustomerExternalID: customer, ClickID: click,
		CustomerEmail: email, CapturedAt: obT0, Timestamp: obT0, DedupOverride: "lead:" + customer + click}
}

// webhookSale is a sale as a payment webhook without metadata carries it:
// an email, no customer and no click.
func webhookSale(t *testing.T, invoice, email string) *sale.Event {
	ev := obSale(t, invoice, obT0)
	ev.CustomerExternalID, ev.ClickID, ev.CustomerEmail = "", "", email
	return ev
}

func mustEnqueue(t *testing.T, ob *Outbox, ev *sale.Event) EnqueueResult {
	t.Helper()
	res, err := ob.Enqueue(ev)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func mustFill(t *testing.T, ob *Outbox, ev *sale.Event) Filled {
	t.Helper()
	filled, err := ob.Fill(ev)
	if err != nil {
		t.Fatal(err)
	}
	return filled
}

func TestBindingFillsCustomerByEmailThenClickByCustomer(t *testing.T) {
	ob := obOpen(t, OutboxOptions{})
	mustEnqueue(t, ob, bindLead("user_7", "clk_landing", "alex@example.com"))

	ev := webhookSale(t, "cs_1", "  Alex@Example.COM ")
	filled := mustFill(t, ob, ev)
	if filled != (Filled{Customer: ByEmail, Click: ByCustomer}) || ev.CustomerExternalID != "user_7" || ev.ClickID != "clk_landing" {
		t.Fatalf("filled %+v: customer %q click %q, want user_7 and clk_landing", filled, ev.CustomerExternalID, ev.ClickID)
	}
	if ev.Origin == nil || ev.Origin.CustomerExternalID != sale.OriginBinding || ev.Origin.ClickID != sale.OriginBinding {
		t.Fatalf("origin %+v, want both from the binding", ev.Origin)
	}

	// What the sale carries itself is never replaced.
	own := webhookSale(t, "cs_2", "alex@example.com")
	own.CustomerExternalID, own.ClickID = "user_other", "clk_own"
	if filled := mustFill(t, ob, own); filled.Any() || own.CustomerExternalID != "user_other" || own.ClickID != "clk_own" {
		t.Fatalf("a sale's own fields were replaced: %+v %q %q", filled, own.CustomerExternalID, own.ClickID)
	}

	unknown := webhookSale(t, "cs_3", "nobody@example.com")
	if filled := mustFill(t, ob, unknown); filled.Any() || unknown.CustomerExternalID != "" || unknown.ClickID != "" {
		t.Fatalf("an unknown email was filled: %+v", filled)
	}
}

func TestBindingAttributionFirstAndLast(t *testing.T) {
	for _, tc := range []struct {
		keepFirst bool
		want      string
	}{{false, "clk_second"}, {true, "clk_first"}} {
		ob := obOpen(t, OutboxOptions{Binding: BindingOptions{KeepFirst: tc.keepFirst}})
		mustEnqueue(t, ob, bindLead("user_7", "clk_first", "alex@example.com"))
		mustEnqueue(t, ob, bindLead("user_7", "clk_second", "alex@example.com"))
		ev := webhookSale(t, "cs_1", "alex@example.com")
		mustFill(t, ob, ev)
		if ev.ClickID != tc.want {
			t.Errorf("keepFirst %v: click %q, want %q", tc.keepFirst, ev.ClickID, tc.want)
		}
	}
}

// A repeat of an invoice is not queued again, but the click it shows is
// learned: the customer came back through a newer link.
func TestBindingLearnsFromDuplicates(t *testing.T) {
	ob := obOpen(t, OutboxOptions{})
	first := obSale(t, "inv_1", obT0)
	first.CustomerExternalID, first.ClickID = "user_7", "clk_old"
	mustEnqueue(t, ob, first)
	again := obSale(t, "inv_1", obT0)
	again.CustomerExternalID, again.ClickID = "user_7", "clk_new"
	if res := mustEnqueue(t, ob, again); res != Duplicate {
		t.Fatalf("second capture: %v, want duplicate", res)
	}
	ev := webhookSale(t, "cs_1", "")
	ev.CustomerExternalID = "user_7"
	if mustFill(t, ob, ev); ev.ClickID != "clk_new" {
		t.Fatalf("click %q, want the duplicate's clk_new", ev.ClickID)
	}
}

func TestBindingExpiresAfterTTLAndIsSwept(t *testing.T) {
	clock := newObClock()
	ob := obOpen(t, OutboxOptions{Now: clock.Now, Binding: BindingOptions{TTL: time.Hour}})
	mustEnqueue(t, ob, bindLead("user_7", "clk_1", "alex@example.com"))

	clock.Advance(59 * time.Minute)
	if n, err := ob.sweepBindings(clock.Now()); err != nil || n != 0 {
		t.Fatalf("sweep before the TTL removed %d (%v)", n, err)
	}
	if ev := webhookSale(t, "cs_1", "alex@example.com"); mustFill(t, ob, ev).Click == "" {
		t.Fatal("a binding within its TTL filled nothing")
	}

	clock.Advance(time.Minute)
	if ev := webhookSale(t, "cs_2", "alex@example.com"); mustFill(t, ob, ev) != (Filled{}) {
		t.Fatalf("an expired binding filled %q %q", ev.CustomerExternalID, ev.ClickID)
	}
	if n, err := ob.sweepBindings(clock.Now()); err != nil || n != 2 {
		t.Fatalf("sweep after the TTL removed %d (%v), want the click and the email", n, err)
	}
	if err := ob.BindRefs([]string{"cs_1"}, "clk_2", ""); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Hour)
	if n, err := ob.sweepBindings(clock.Now()); err != nil || n != 1 {
		t.Fatalf("sweep removed %d (%v), want the reference", n, err)
	}
	if left := bindingEntries(t, ob); len(left) != 0 {
		t.Fatalf("%d entries left after the sweep", len(left))
	}
}

// A customer seen again with the same email keeps it bound past the TTL
// counted from the first sighting: the entry lives a TTL after the last.
func TestBindingRenewsAnEmailSeenAgain(t *testing.T) {
	clock := newObClock()
	ob := obOpen(t, OutboxOptions{Now: clock.Now, Binding: BindingOptions{TTL: 90 * 24 * time.Hour}})
	signUp := bindLead("user_7", "clk_1", "alex@example.com")
	mustEnqueue(t, ob, signUp)

	clock.Advance(60 * 24 * time.Hour)
	logIn := bindLead("user_7", "", "alex@example.com")
	logIn.DedupOverride = "lead:login-day-60"
	mustEnqueue(t, ob, logIn)

	clock.Advance(40 * 24 * time.Hour) // 100 days after the sign-up, 40 after the log-in
	ev := webhookSale(t, "cs_1", "alex@example.com")
	if mustFill(t, ob, ev); ev.CustomerExternalID != "user_7" {
		t.Fatalf("customer %q: the email seen 40 days ago was forgotten", ev.CustomerExternalID)
	}
}

// A sale carrying two references, one known with its customer only and
// the other with its click only, gets both.
func TestBindingFillsFromEachReference(t *testing.T) {
	ob := obOpen(t, OutboxOptions{})
	if err := ob.BindRefs([]string{"cs_test_1"}, "", "user_9"); err != nil {
		t.Fatal(err)
	}
	if err := ob.BindRefs([]string{"pi_1"}, "clk_browser", ""); err != nil {
		t.Fatal(err)
	}
	ev := webhookSale(t, "cs_test_1", "")
	ev.Refs = []string{"cs_test_1", "pi_1"}
	if mustFill(t, ob, ev); ev.CustomerExternalID != "user_9" || ev.ClickID != "clk_browser" {
		t.Fatalf("customer %q click %q, want user_9 and clk_browser", ev.CustomerExternalID, ev.ClickID)
	}
}

// A webhook carrying a checkout reference gets the click and customer
// checkout_ref saw with it, before its email or customer is tried.
func TestBindingFillsByCheckoutReference(t *testing.T) {
	ob := obOpen(t, OutboxOptions{})
	if err := ob.BindRefs([]string{"cs_test_1", "pi_1"}, "clk_checkout", "user_9"); err != nil {
		t.Fatal(err)
	}
	mustEnqueue(t, ob, bindLead("user_7", "clk_lead", "alex@example.com"))

	ev := webhookSale(t, "cs_test_1", "alex@example.com")
	ev.Refs = []string{"cs_unknown", "pi_1"}
	if filled := mustFill(t, ob, ev); filled != (Filled{Customer: ByReference, Click: ByReference}) ||
		ev.ClickID != "clk_checkout" || ev.CustomerExternalID != "user_9" {
		t.Fatalf("filled %+v: click %q customer %q", filled, ev.ClickID, ev.CustomerExternalID)
	}

	// A checkout of a visitor not logged in gives the click; the email
	// then finds the customer.
	if err := ob.BindRefs([]string{"cs_test_2"}, "clk_guest", ""); err != nil {
		t.Fatal(err)
	}
	ev = webhookSale(t, "cs_test_2", "alex@example.com")
	ev.Refs = []string{"cs_test_2"}
	if filled := mustFill(t, ob, ev); filled != (Filled{Customer: ByEmail, Click: ByReference}) ||
		ev.ClickID != "clk_guest" || ev.CustomerExternalID != "user_7" {
		t.Fatalf("filled %+v: click %q customer %q", filled, ev.ClickID, ev.CustomerExternalID)
	}
}

// The browser's request shows a cart's click, the storefront's server
// its customer: both are kept, whichever comes first.
func TestBindRefsMergesClickAndCustomer(t *testing.T) {
	ob := obOpen(t, OutboxOptions{})
	for _, step := range []struct{ click, customer string }{{"clk_1", ""}, {"", "cus_1"}, {"clk_1", ""}} {
		if err := ob.BindRefs([]string{"cart_1"}, step.click, step.customer); err != nil {
			t.Fatal(err)
		}
	}
	ev := webhookSale(t, "order_1", "")
	ev.Refs = []string{"cart_1"}
	if mustFill(t, ob, ev); ev.ClickID != "clk_1" || ev.CustomerExternalID != "cus_1" {
		t.Fatalf("click %q customer %q, want clk_1 and cus_1", ev.ClickID, ev.CustomerExternalID)
	}
	if learned := ob.bindingsLearned.Load(); learned != 2 {
		t.Fatalf("%d writes, want 2: a pair already known is not written again", learned)
	}
}

func TestBindRefsAttribution(t *testing.T) {
	for _, tc := range []struct {
		keepFirst bool
		want      string
	}{{false, "clk_second"}, {true, "clk_first"}} {
		ob := obOpen(t, OutboxOptions{Binding: BindingOptions{KeepFirst: tc.keepFirst}})
		for _, click := range []string{"clk_first", "clk_second"} {
			if err := ob.BindRefs([]string{"cs_1"}, click, "user_1"); err != nil {
				t.Fatal(err)
			}
		}
		ev := webhookSale(t, "cs_1", "")
		ev.Refs = []string{"cs_1"}
		if mustFill(t, ob, ev); ev.ClickID != tc.want {
			t.Errorf("keepFirst %v: click %q, want %q", tc.keepFirst, ev.ClickID, tc.want)
		}
	}
}

// A leaked outbox file must not list customers' addresses: the binding
// holds keyed hashes of them, and nothing else that spells one.
func TestBindingStoresNoEmailInClear(t *testing.T) {
	ob := obOpen(t, OutboxOptions{})
	emails := []string{"alex@example.com", "Zoë.Ærø@Example.org"}
	for i, email := range emails {
		mustEnqueue(t, ob, bindLead("user_"+string(rune('a'+i)), "clk_"+string(rune('a'+i)), email))
	}
	if err := ob.BindRefs([]string{"cs_1"}, "clk_c", "user_c"); err != nil {
		t.Fatal(err)
	}
	entries := bindingEntries(t, ob)
	if len(entries) != 2*len(emails)+1 {
		t.Fatalf("%d binding entries, want %d", len(entries), 2*len(emails)+1)
	}
	for _, kv := range entries {
		for _, email := range emails {
			for _, form := range []string{email, strings.ToLower(email), strings.Split(strings.ToLower(email), "@")[0]} {
				if bytes.Contains(kv, []byte(form)) {
					t.Errorf("binding entry %q holds %q", kv, form)
				}
			}
		}
	}
}

// The key survives a restart (so do the bindings), is the owner's alone,
// and one of the wrong size stops the start rather than being replaced.
func TestBindingKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outbox.db")
	ob, err := OpenOutbox(path, OutboxOptions{})
	if err != nil {
		t.Fatal(err)
	}
	mustEnqueue(t, ob, bindLead("user_7", "clk_1", "alex@example.com"))
	ob.Close()

	keyPath := filepath.Join(filepath.Dir(path), BindingKeyFile)
	info, err := os.Stat(keyPath)
	if err != nil || info.Mode().Perm() != 0o600 || info.Size() != bindingKeySize {
		t.Fatalf("key file: %v, %v", info, err)
	}
	ob, err = OpenOutbox(path, OutboxOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ev := webhookSale(t, "cs_1", "alex@example.com")
	mustFill(t, ob, ev)
	ob.Close()
	if ev.CustomerExternalID != "user_7" || ev.ClickID != "clk_1" {
		t.Fatalf("after a reopen: customer %q click %q", ev.CustomerExternalID, ev.ClickID)
	}

	if err := os.WriteFile(keyPath, []byte("short"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenOutbox(path, OutboxOptions{}); err == nil || !strings.Contains(err.Error(), BindingKeyFile) {
		t.Fatalf("a damaged key opened: %v", err)
	}
}

// A key file left empty (the machine stopped before the key was written)
// never hashed anything: the next start writes a new key in its place,
// whole, and leaves no temporary file behind.
func TestBindingKeyFileLeftEmptyIsReplaced(t *testing.T) {
	dir := t.TempDir()
	keyPath := filepath.Join(dir, BindingKeyFile)
	if err := os.WriteFile(keyPath, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	ob, err := OpenOutbox(filepath.Join(dir, "outbox.db"), OutboxOptions{})
	if err != nil {
		t.Fatalf("an empty key file stopped the start: %v", err)
	}
	ob.Close()
	info, err := os.Stat(keyPath)
	if err != nil || info.Mode().Perm() != 0o600 || info.Size() != bindingKeySize {
		t.Fatalf("key file: %v, %v", info, err)
	}
	names, err := filepath.Glob(filepath.Join(dir, BindingKeyFile+"*"))
	if err != nil || len(names) != 1 {
		t.Fatalf("files beside the outbox: %v, %v", names, err)
	}
}

// An outbox copied without its key (or whose key was deleted) starts with
// a new key, and says that what the binding learned is no longer found; a
// new installation, with nothing learned, says nothing.
func TestBindingKeyLostIsWarned(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outbox.db")
	core, logs := observer.New(zap.WarnLevel)
	ob, err := OpenOutbox(path, OutboxOptions{Logger: zap.New(core)})
	if err != nil {
		t.Fatal(err)
	}
	mustEnqueue(t, ob, bindLead("user_7", "clk_1", "alex@example.com"))
	ob.Close()
	if n := logs.Len(); n != 0 {
		t.Fatalf("%d warnings on a first start", n)
	}
	if err := os.Remove(filepath.Join(filepath.Dir(path), BindingKeyFile)); err != nil {
		t.Fatal(err)
	}
	ob, err = OpenOutbox(path, OutboxOptions{Logger: zap.New(core)})
	if err != nil {
		t.Fatal(err)
	}
	ob.Close()
	if got := logs.FilterMessageSnippet("its key was missing").Len(); got != 1 {
		t.Fatalf("%d warnings of a lost key, want 1", got)
	}
}

// bindingEntries returns every key and value of the binding's buckets,
// each joined into one byte string.
func bindingEntries(t *testing.T, ob *Outbox) [][]byte {
	t.Helper()
	var out [][]byte
	err := ob.view("read the binding", func(tx *bolt.Tx) error {
		for _, name := range bindingBuckets {
			if err := tx.Bucket(name).ForEach(func(k, v []byte) error {
				out = append(out, append(bytes.Clone(k), v...))
				return nil
			}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// A dead letter shows where its customer and click came from, as the
// admin API lists it.
func TestDeadLetterKeepsTheOrigin(t *testing.T) {
	ob := obOpen(t, OutboxOptions{Now: newObClock().Now})
	ev := obSale(t, "INV-1", obT0)
	ev.Origin = &sale.Origin{CustomerExternalID: sale.OriginBinding, ClickID: sale.OriginPlaceholder}
	mustEnqueue(t, ob, ev)
	items, _, err := ob.lease(obT0, 10, func(uint64) bool { return false })
	if err != nil || len(items) != 1 {
		t.Fatal(len(items), err)
	}
	if err := ob.bury(items[0].seq, items[0].due, "permanent: 422", failure{sink: "http", status: 422}, obT0); err != nil {
		t.Fatal(err)
	}
	letters, _, err := ob.deadLetters(0, 10)
	if err != nil || len(letters) != 1 {
		t.Fatal(len(letters), err)
	}
	b, _ := json.Marshal(letters[0])
	if !bytes.Contains(b, []byte(`"origin":{"customerExternalId":"binding","clickId":"placeholder"}`)) {
		t.Fatalf("dead letter %s has no origin", b)
	}
}
