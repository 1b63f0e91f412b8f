// Package fake holds the loopback stand-ins that the tests and the
// benchmark run caddy-saletrack against: a Platform that records every
// delivery and answers as it is told (accept, fail, Retry-After, slow,
// hang, down), and a Shop whose checkouts answer orders in the forms real
// upstreams use (compressed, chunked, with trailers, HTML, declined…).
//
// Both listen on 127.0.0.1 at a port the OS picks. Like httptest.Server,
// their constructors panic when they cannot listen, so a program (bench)
// and a test use them alike.
package fake
