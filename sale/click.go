package sale

// MaxClickIDLength bounds a click id: CutMeShort's SDKs take a clickId of
// up to 255 characters (MaxIDLength in cms-go's
// internal/validation/validator.go, STRING_FIELDS in cms-ts's
// src/constants/constants.ts), so a shorter bound could drop a click the
// platform made.
const MaxClickIDLength = 255

// ValidClickID allows 1 to 255 characters of A-Z a-z 0-9 . _ ~ -, the
// URL-safe set, so the value needs no escaping anywhere it goes. It is the
// one rule for a click id: click_cookie sets no cookie for another, and a
// sale's click id source that yields another is no value.
//
// The platforms' own ids fit it: CutMeShort's are a UUID or a token of
// [A-Za-z0-9_-] (cms-go's ValidateClickID; cms_rf=google_cpc), and Dub's
// are 16 characters of [0-9A-Za-z] (nanoid(16) from @dub/utils, whose
// alphabet is the 62 alphanumerics, in apps/web/app/(ee)/api/track/click/
// route.ts).
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
