package sale

// MaxClickIDLength bounds a click id.
const MaxClickIDLength = 128

// ValidClickID allows 1 to 128 characters of A-Z a-z 0-9 . _ ~ -, the
// URL-safe set, so the value needs no escaping anywhere it goes. It is the
// one rule for a click id: click_cookie sets no cookie for another, and a
// sale's click id source that yields another is no value.
func ValidClickID(v string) bool {
	if len(v) == 0 || len(v) > MaxClickIDLength {
		return false
	}
	for i := 0; i < len(v); i++ {
		ch := v[i]
		switch {
		case ch >= 'a' && ch <= 'z', ch >= 'A' && ch <= 'Z', ch >= '0' && ch <= '9':
		case ch == '.', ch == '_', ch == '~', ch == '-':
		default:
			return false
		}
	}
	return true
}
