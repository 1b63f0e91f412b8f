package delivery

import (
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/saletrack/caddy-saletrack/sale"
)

// bindingReader reads a binding's three tables, each entry live (not past
// the binding's TTL) or not found.
type bindingReader interface {
	// refEntry is the click and customer a checkout reference was opened with.
	refEntry(ref string) (click, customer string, ok bool, err error)
	// customerOfEmail is the customer id last seen with an email.
	customerOfEmail(email string) (string, bool, error)
	// clickOfCustomer is the click bound to a customer id.
	clickOfCustomer(customer string) (string, bool, error)
}

// fillFrom completes ev from what r reads: the checkout reference first,
// then a missing customer from the email, then a missing click from the
// customer. What the sale carries is never replaced; filled fields are
// marked sale.OriginBinding.
func fillFrom(ev *sale.Event, r bindingReader) (Filled, error) {
	var filled Filled
	if ev.ClickID != "" && ev.CustomerExternalID != "" {
		return filled, nil
	}
	setCustomer := func(customer, by string) {
		ev.CustomerExternalID = customer
		ev.SetOrigin(sale.FieldCustomerID, sale.OriginBinding)
		filled.Customer = by
	}
	setClick := func(click, by string) {
		ev.ClickID = click
		ev.SetOrigin(sale.FieldClickID, sale.OriginBinding)
		filled.Click = by
	}
	for _, ref := range ev.Refs {
		click, customer, ok, err := r.refEntry(ref)
		if err != nil {
			return filled, err
		}
		if !ok {
			continue
		}
		if ev.ClickID == "" && sale.ValidClickID(click) {
			setClick(click, ByReference)
		}
		if ev.CustomerExternalID == "" && customer != "" {
			setCustomer(customer, ByReference)
		}
		// One reference may know the customer (the checkout request
		// showed it) and another the click (the browser's own).
		if ev.ClickID != "" && ev.CustomerExternalID != "" {
			break
		}
	}
	if ev.CustomerExternalID == "" && ev.CustomerEmail != "" {
		customer, ok, err := r.customerOfEmail(ev.CustomerEmail)
		if err != nil {
			return filled, err
		}
		if ok {
			setCustomer(customer, ByEmail)
		}
	}
	if ev.ClickID == "" && ev.CustomerExternalID != "" {
		click, ok, err := r.clickOfCustomer(ev.CustomerExternalID)
		if err != nil {
			return filled, err
		}
		if ok && sale.ValidClickID(click) {
			setClick(click, ByCustomer)
		}
	}
	return filled, nil
}

// boltReader reads the outbox's binding buckets in one transaction.
type boltReader struct {
	tx  *bolt.Tx
	key bindingKey
	now time.Time
	ttl time.Duration
}

func (r boltReader) live(bucket, key []byte) ([]byte, bool) {
	return liveEntry(r.tx.Bucket(bucket), key, r.now, r.ttl)
}

func (r boltReader) refEntry(ref string) (string, string, bool, error) {
	v, ok := r.live(bucketBindRef, r.key.refKey(ref))
	if !ok {
		return "", "", false, nil
	}
	click, customer, ok := splitRefEntry(v)
	return click, customer, ok, nil
}

func (r boltReader) customerOfEmail(email string) (string, bool, error) {
	v, ok := r.live(bucketBindEmail, r.key.emailKey(email))
	return string(v), ok, nil
}

func (r boltReader) clickOfCustomer(customer string) (string, bool, error) {
	v, ok := r.live(bucketBindCustomer, r.key.customerKey(customer))
	return string(v), ok, nil
}
