// Package sale is what a sale is and how it is read: the event and its
// wire payload, the field sources a sale is extracted from, conditions,
// timestamps, validation and the payment presets. It does not import Caddy
// and knows nothing of delivery; package delivery gets each event out.
package sale
