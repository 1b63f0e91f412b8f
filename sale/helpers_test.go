package sale

import "github.com/tidwall/gjson"

func parse(s string) gjson.Result { return gjson.Parse(s) }
