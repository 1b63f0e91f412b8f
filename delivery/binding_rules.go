package delivery

import "time"

// The binding's rules of learning, one each, whichever store keeps it.

// keepsClick says whether a customer's bound click (old, if live) stays
// when the customer is seen with click: under first-click attribution any
// live click stays; under last, only the same one.
func keepsClick(old []byte, live bool, click string, keepFirst bool) bool {
	return live && (keepFirst || string(old) == click)
}

// keepsCustomer says whether an email's stored entry (raw, nil when
// there is none) stays as it is when the email is seen with customer: the
// shop's id for an email is the latest one it answered with, and an entry
// seen again is renewed (dueForRenewal), so a customer who keeps coming
// back keeps it past the TTL.
func keepsCustomer(raw []byte, customer string, now time.Time, ttl time.Duration) bool {
	old, live := liveText(raw, now, ttl)
	return live && string(old) == customer && !dueForRenewal(raw, now, ttl)
}

// mergeRef is the entry a checkout reference gets when a request shows it
// with click and customer, and whether it changed. What one request does
// not know (a storefront's server has no click; the browser has no
// customer) keeps what was recorded; under first-click attribution a
// recorded click stays.
func mergeRef(old []byte, live bool, click, customer string, keepFirst bool, now time.Time) ([]byte, bool) {
	if live {
		if oldClick, oldCustomer, ok := splitRefEntry(old); ok {
			if click == "" || (keepFirst && oldClick != "") {
				click = oldClick
			}
			if customer == "" {
				customer = oldCustomer
			}
			if click == oldClick && customer == oldCustomer {
				return nil, false
			}
		}
	}
	return refEntry(now, click, customer), true
}
