package expr

import (
	"encoding/json"
	"math"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Undefined is JavaScript's undefined: what a missing property, a member that
// has not run or an unset environment variable evaluates to. It is distinct
// from nil, which is JSON null. Compare with IsUndefined or a type switch.
type Undefined struct{}

// IsUndefined reports whether v is the undefined value.
func IsUndefined(v any) bool {
	_, ok := v.(Undefined)
	return ok
}

// kind is the JavaScript type of a value as the evaluator sees it.
type kind uint8

const (
	kUndef kind = iota
	kNull
	kBool
	kNum
	kStr
	kArr // []any, []string, or any Go slice or array
	kObj // map[string]any, map[string]string, or any string-keyed Go map or struct
)

// val is the evaluator's unboxed value, so that arithmetic and comparisons
// on numbers and strings never allocate.
type val struct {
	k kind
	n float64 // kNum: the number; kBool: 1 or 0
	s string  // kStr
	// x is the Go value behind a kArr or kObj, and for kNum and kStr the
	// original interface value when it was exactly float64 or string, so
	// handing it back to the caller needs no new allocation.
	x any
}

func numVal(f float64) val { return val{k: kNum, n: f} }
func strVal(s string) val  { return val{k: kStr, s: s} }

func boolVal(b bool) val {
	if b {
		return val{k: kBool, n: 1}
	}
	return val{k: kBool}
}

// fromAny converts a caller's Go value to a val. JSON-shaped values take the
// fast path; anything else goes through reflection.
func fromAny(x any) val {
	switch t := x.(type) {
	case nil:
		return val{k: kNull}
	case Undefined:
		return val{}
	case bool:
		return boolVal(t)
	case float64:
		return val{k: kNum, n: t, x: x}
	case string:
		return val{k: kStr, s: t, x: x}
	case map[string]any:
		if t == nil {
			return val{k: kNull} // as encoding/json writes a nil map
		}
		return val{k: kObj, x: x}
	case []any:
		if t == nil {
			return val{k: kNull}
		}
		return val{k: kArr, x: x}
	case map[string]string:
		if t == nil {
			return val{k: kNull}
		}
		return val{k: kObj, x: x}
	case []string:
		if t == nil {
			return val{k: kNull}
		}
		return val{k: kArr, x: x}
	case int:
		return numVal(float64(t))
	case int64:
		return numVal(float64(t))
	case int32:
		return numVal(float64(t))
	case uint64:
		return numVal(float64(t))
	case uint32:
		return numVal(float64(t))
	case float32:
		return numVal(float64(t))
	case json.Number:
		return numVal(strToNum(string(t)))
	case json.RawMessage:
		var v any
		if json.Unmarshal(t, &v) != nil {
			return val{}
		}
		return fromAny(v)
	}
	return fromReflect(reflect.ValueOf(x))
}

func fromReflect(rv reflect.Value) val {
	switch rv.Kind() {
	case reflect.Invalid:
		return val{k: kNull}
	case reflect.Bool:
		return boolVal(rv.Bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return numVal(float64(rv.Int()))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return numVal(float64(rv.Uint()))
	case reflect.Float32, reflect.Float64:
		return numVal(rv.Float())
	case reflect.String:
		return strVal(rv.String())
	case reflect.Map:
		if rv.IsNil() {
			return val{k: kNull}
		}
		if rv.Type().Key().Kind() != reflect.String {
			return val{}
		}
		return val{k: kObj, x: rv.Interface()}
	case reflect.Slice:
		if rv.IsNil() {
			return val{k: kNull}
		}
		return val{k: kArr, x: rv.Interface()}
	case reflect.Array:
		return val{k: kArr, x: rv.Interface()}
	case reflect.Struct:
		return val{k: kObj, x: rv.Interface()}
	case reflect.Pointer, reflect.Interface:
		if rv.IsNil() {
			return val{k: kNull}
		}
		if rv.Kind() == reflect.Pointer && rv.Elem().Kind() == reflect.Struct {
			// Keep the pointer, so that === sees one object.
			return val{k: kObj, x: rv.Interface()}
		}
		return fromAny(rv.Elem().Interface())
	}
	// Channels, functions and the like have no JSON meaning.
	return val{}
}

// toAny converts a val back to the Go value callers see.
func toAny(v val) any {
	switch v.k {
	case kUndef:
		return Undefined{}
	case kNull:
		return nil
	case kBool:
		return v.n != 0
	case kNum:
		if v.x != nil {
			return v.x
		}
		return v.n
	case kStr:
		if v.x != nil {
			return v.x
		}
		return v.s
	}
	return v.x
}

// truthy is JavaScript's ToBoolean.
func truthy(v val) bool {
	switch v.k {
	case kUndef, kNull:
		return false
	case kBool:
		return v.n != 0
	case kNum:
		return v.n != 0 && !math.IsNaN(v.n)
	case kStr:
		return v.s != ""
	}
	return true
}

// Truthy reports whether a value is truthy as JavaScript defines it: false,
// 0, NaN, "", null (nil) and undefined are falsy, everything else is truthy.
func Truthy(v any) bool { return truthy(fromAny(v)) }

// toNumber is JavaScript's ToNumber. Arrays and objects convert through their
// JSON text (so to NaN), see toString.
func toNumber(v val) float64 {
	switch v.k {
	case kUndef:
		return math.NaN()
	case kNull:
		return 0
	case kBool, kNum:
		return v.n
	case kStr:
		return strToNum(v.s)
	}
	return strToNum(toString(v))
}

// toString is JavaScript's ToString, except that arrays and objects become
// their JSON text rather than "a,b" and "[object Object]".
func toString(v val) string {
	switch v.k {
	case kUndef:
		return "undefined"
	case kNull:
		return "null"
	case kBool:
		if v.n != 0 {
			return "true"
		}
		return "false"
	case kNum:
		return numToString(v.n)
	case kStr:
		return v.s
	}
	b, err := appendJSON(nil, v.x, 0)
	if err != nil {
		return "[object Object]"
	}
	return string(b)
}

// String formats a value as a template interpolates it: JavaScript's String()
// for primitives, JSON text for arrays and objects.
func String(v any) string { return toString(fromAny(v)) }

// toPrimitive is JavaScript's ToPrimitive under this package's rule that
// arrays and objects become their JSON text.
func toPrimitive(v val) val {
	if v.k >= kArr {
		return strVal(toString(v))
	}
	return v
}

// isJSSpace reports whether r is white space or a line terminator to
// JavaScript's String.prototype.trim and ToNumber.
func isJSSpace(r rune) bool {
	switch r {
	case '\t', '\n', '\v', '\f', '\r', ' ', 0xA0, 0x1680, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000, 0xFEFF:
		return true
	}
	return r >= 0x2000 && r <= 0x200A
}

// strToNum is JavaScript's StringToNumber: Go's ParseFloat accepts more
// ("inf", "0x1p3", underscores), so the syntax is checked first.
func strToNum(s string) float64 {
	s = strings.TrimFunc(s, isJSSpace)
	if s == "" {
		return 0
	}
	switch s {
	case "Infinity", "+Infinity":
		return math.Inf(1)
	case "-Infinity":
		return math.Inf(-1)
	}
	if len(s) > 2 && s[0] == '0' {
		if base := radix(s[1]); base != 0 {
			f, ok := parseRadix(s[2:], base)
			if !ok {
				return math.NaN()
			}
			return f
		}
	}
	if !isDecimal(s) {
		return math.NaN()
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil && !isRangeErr(err) {
		return math.NaN()
	}
	return f
}

func isRangeErr(err error) bool {
	ne, ok := err.(*strconv.NumError)
	return ok && ne.Err == strconv.ErrRange
}

func radix(c byte) int {
	switch c {
	case 'x', 'X':
		return 16
	case 'o', 'O':
		return 8
	case 'b', 'B':
		return 2
	}
	return 0
}

// parseRadix reads digits of a 0x/0o/0b literal; values past 2^53 round as
// the float accumulation does, close enough for an expression language.
func parseRadix(s string, base int) (float64, bool) {
	if s == "" {
		return 0, false
	}
	var f float64
	for i := 0; i < len(s); i++ {
		d := digitVal(s[i])
		if d >= base {
			return 0, false
		}
		f = f*float64(base) + float64(d)
	}
	return f, true
}

func digitVal(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return 99
}

// isDecimal checks JavaScript's StrDecimalLiteral syntax (sign, digits,
// optional fraction, optional exponent).
func isDecimal(s string) bool {
	i := 0
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	digits := 0
	for i < len(s) && isDigit(s[i]) {
		i++
		digits++
	}
	if i < len(s) && s[i] == '.' {
		i++
		for i < len(s) && isDigit(s[i]) {
			i++
			digits++
		}
	}
	if digits == 0 {
		return false
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		exp := 0
		for i < len(s) && isDigit(s[i]) {
			i++
			exp++
		}
		if exp == 0 {
			return false
		}
	}
	return i == len(s)
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// numToString is JavaScript's Number::toString(10): shortest round-trip
// digits, plain notation for exponents in [-7, 21), exponent form otherwise.
func numToString(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	case f == 0:
		return "0" // also -0, as JavaScript prints it
	}
	if f == math.Trunc(f) && math.Abs(f) < 1e15 {
		return strconv.FormatInt(int64(f), 10)
	}
	if a := math.Abs(f); a >= 1e-6 && a < 1e21 {
		// JavaScript's plain notation: Go's shortest digits in %f form.
		return strconv.FormatFloat(f, 'f', -1, 64)
	}
	var buf [32]byte
	e := strconv.AppendFloat(buf[:0], math.Abs(f), 'e', -1, 64)
	// e is d[.ddd]e±XX
	mant, exp, _ := strings.Cut(string(e), "e")
	digits := strings.Replace(mant, ".", "", 1)
	x, _ := strconv.Atoi(exp)
	k, n := len(digits), x+1
	var b strings.Builder
	if f < 0 {
		b.WriteByte('-')
	}
	switch {
	case k <= n && n <= 21:
		b.WriteString(digits)
		b.WriteString(strings.Repeat("0", n-k))
	case 0 < n && n <= 21:
		b.WriteString(digits[:n])
		b.WriteByte('.')
		b.WriteString(digits[n:])
	case -6 < n && n <= 0:
		b.WriteString("0.")
		b.WriteString(strings.Repeat("0", -n))
		b.WriteString(digits)
	default:
		b.WriteByte(digits[0])
		if k > 1 {
			b.WriteByte('.')
			b.WriteString(digits[1:])
		}
		b.WriteByte('e')
		if n-1 >= 0 {
			b.WriteByte('+')
		}
		b.WriteString(strconv.Itoa(n - 1))
	}
	return b.String()
}

// utf16Len is a string's JavaScript length: UTF-16 code units.
func utf16Len(s string) int {
	if isASCII(s) {
		return len(s)
	}
	n := 0
	for _, r := range s {
		n++
		if r >= 0x10000 {
			n++
		}
	}
	return n
}

// strAt is s[i] in JavaScript: the UTF-16 code unit at i, as a string. Half
// of a surrogate pair cannot be held in UTF-8, so it becomes U+FFFD.
func strAt(s string, i int) val {
	if i < 0 {
		return val{}
	}
	if i < len(s) && isASCII(s[:i+1]) {
		return strVal(s[i : i+1])
	}
	u := 0
	for j := 0; j < len(s); {
		r, size := utf8.DecodeRuneInString(s[j:])
		units := 1
		if r >= 0x10000 {
			units = 2
		}
		if i < u+units {
			if units == 2 {
				return strVal("\uFFFD")
			}
			return strVal(s[j : j+size])
		}
		u += units
		j += size
	}
	return val{}
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// compareStrings orders strings by UTF-16 code units, as JavaScript does.
// Byte order equals code point order, which differs only when a character
// above U+FFFF meets one in U+E000..U+FFFF.
func compareStrings(a, b string) int {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	if i == len(a) || i == len(b) {
		return len(a) - len(b)
	}
	for i > 0 && !utf8.RuneStart(a[i]) {
		i--
	}
	ra, _ := utf8.DecodeRuneInString(a[i:])
	rb, _ := utf8.DecodeRuneInString(b[i:])
	ua, ub := firstUnit(ra), firstUnit(rb)
	if ua != ub {
		return int(ua) - int(ub)
	}
	if a[i:] < b[i:] {
		return -1
	}
	return 1
}

func firstUnit(r rune) rune {
	if r >= 0x10000 {
		return 0xD800 + (r-0x10000)>>10
	}
	return r
}

// arrayIndex parses a canonical array index ("0", "17", not "01" or "-1").
func arrayIndex(key string) (int, bool) {
	if key == "" || len(key) > 15 || (key[0] == '0' && len(key) > 1) {
		return 0, false
	}
	n := 0
	for i := 0; i < len(key); i++ {
		if !isDigit(key[i]) {
			return 0, false
		}
		n = n*10 + int(key[i]-'0')
	}
	return n, true
}

// getProp is v[key] for a property name.
func getProp(v val, key string) val {
	switch v.k {
	case kObj:
		switch m := v.x.(type) {
		case map[string]any:
			e, ok := m[key]
			if !ok {
				return val{}
			}
			return fromAny(e)
		case map[string]string:
			e, ok := m[key]
			if !ok {
				return val{}
			}
			return strVal(e)
		}
		return reflectProp(v.x, key)
	case kArr:
		if key == "length" {
			return numVal(float64(arrLen(v.x)))
		}
		if i, ok := arrayIndex(key); ok {
			return arrAt(v.x, i)
		}
	case kStr:
		if key == "length" {
			return numVal(float64(utf16Len(v.s)))
		}
		if i, ok := arrayIndex(key); ok {
			return strAt(v.s, i)
		}
	}
	return val{}
}

// index is v[k] for a computed key.
func index(v val, k val) val {
	switch k.k {
	case kStr:
		return getProp(v, k.s)
	case kNum:
		if (v.k == kArr || v.k == kStr) && k.n >= 0 && k.n == math.Trunc(k.n) && k.n < 1<<53 {
			if v.k == kArr {
				return arrAt(v.x, int(k.n))
			}
			return strAt(v.s, int(k.n))
		}
	}
	return getProp(v, toString(k))
}

func arrLen(x any) int {
	switch a := x.(type) {
	case []any:
		return len(a)
	case []string:
		return len(a)
	}
	return reflect.ValueOf(x).Len()
}

func arrAt(x any, i int) val {
	switch a := x.(type) {
	case []any:
		if i < len(a) {
			return fromAny(a[i])
		}
		return val{}
	case []string:
		if i < len(a) {
			return strVal(a[i])
		}
		return val{}
	}
	rv := reflect.ValueOf(x)
	if i >= rv.Len() {
		return val{}
	}
	return fromReflect(rv.Index(i))
}

// reflectProp reads a key of a string-keyed map or the field of a struct
// whose JSON name is key, for engine values that are not map[string]any.
func reflectProp(x any, key string) val {
	rv := reflect.Indirect(reflect.ValueOf(x))
	switch rv.Kind() {
	case reflect.Map:
		e := rv.MapIndex(reflect.ValueOf(key).Convert(rv.Type().Key()))
		if !e.IsValid() {
			return val{}
		}
		return fromReflect(e)
	case reflect.Struct:
		if f, ok := structField(rv, key); ok {
			return fromReflect(f)
		}
	}
	return val{}
}

// structField finds the exported field that encoding/json would write under
// name key.
func structField(rv reflect.Value, key string) (reflect.Value, bool) {
	t := rv.Type()
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		name := sf.Name
		if tag, ok := sf.Tag.Lookup("json"); ok {
			tn, _, _ := strings.Cut(tag, ",")
			if tn == "-" {
				continue
			}
			if tn != "" {
				name = tn
			}
		}
		if name == key {
			return rv.Field(i), true
		}
	}
	return reflect.Value{}, false
}

// objLen is the number of own keys of an object, for length(obj).
func objLen(x any) int {
	switch m := x.(type) {
	case map[string]any:
		return len(m)
	case map[string]string:
		return len(m)
	}
	rv := reflect.ValueOf(x)
	if rv.Kind() == reflect.Map {
		return rv.Len()
	}
	b, err := appendJSON(nil, x, 0)
	if err != nil {
		return 0
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(b, &m) != nil {
		return 0
	}
	return len(m)
}

// hasKey reports whether object x has key, for includes(obj, key).
func hasKey(x any, key string) bool {
	switch m := x.(type) {
	case map[string]any:
		_, ok := m[key]
		return ok
	case map[string]string:
		_, ok := m[key]
		return ok
	}
	return getProp(val{k: kObj, x: x}, key).k != kUndef
}

// sameRef is identity for arrays and objects (=== compares references).
func sameRef(a, b any) bool {
	ra, rb := reflect.ValueOf(a), reflect.ValueOf(b)
	if ra.Type() != rb.Type() {
		return false
	}
	switch ra.Kind() {
	case reflect.Map, reflect.Pointer:
		return ra.UnsafePointer() == rb.UnsafePointer()
	case reflect.Slice:
		return ra.UnsafePointer() == rb.UnsafePointer() && ra.Len() == rb.Len()
	}
	return false
}

// strictEq is ===.
func strictEq(a, b val) bool {
	if a.k != b.k {
		return false
	}
	switch a.k {
	case kUndef, kNull:
		return true
	case kBool, kNum:
		return a.n == b.n
	case kStr:
		return a.s == b.s
	}
	return sameRef(a.x, b.x)
}

// sameValueZero is Array.prototype.includes' equality: === except that NaN
// equals NaN.
func sameValueZero(a, b val) bool {
	if a.k == kNum && b.k == kNum && math.IsNaN(a.n) && math.IsNaN(b.n) {
		return true
	}
	return strictEq(a, b)
}

// looseEq is ==, JavaScript's IsLooselyEqual.
func looseEq(a, b val) bool {
	if a.k == b.k {
		return strictEq(a, b)
	}
	an, bn := a.k <= kNull, b.k <= kNull
	if an || bn {
		return an && bn
	}
	if a.k >= kArr && b.k >= kArr {
		return false // different kinds of object are never the same reference
	}
	if a.k == kBool {
		return looseEq(numVal(a.n), b)
	}
	if b.k == kBool {
		return looseEq(a, numVal(b.n))
	}
	if a.k >= kArr {
		return looseEq(toPrimitive(a), b)
	}
	if b.k >= kArr {
		return looseEq(a, toPrimitive(b))
	}
	// One number, one string.
	return toNumber(a) == toNumber(b)
}

// lessThan is JavaScript's IsLessThan; ok is false when the answer is
// undefined (a NaN was involved), which makes every relational operator false.
func lessThan(a, b val) (lt, ok bool) {
	if a.k == kNum && b.k == kNum {
		if math.IsNaN(a.n) || math.IsNaN(b.n) {
			return false, false
		}
		return a.n < b.n, true
	}
	a, b = toPrimitive(a), toPrimitive(b)
	if a.k == kStr && b.k == kStr {
		return compareStrings(a.s, b.s) < 0, true
	}
	x, y := toNumber(a), toNumber(b)
	if math.IsNaN(x) || math.IsNaN(y) {
		return false, false
	}
	return x < y, true
}

// add is the + operator: concatenation when either side is (or converts to)
// a string, numeric addition otherwise.
func add(a, b val) val {
	if a.k == kNum && b.k == kNum {
		return numVal(a.n + b.n)
	}
	a, b = toPrimitive(a), toPrimitive(b)
	if a.k == kStr || b.k == kStr {
		return strVal(toString(a) + toString(b))
	}
	return numVal(toNumber(a) + toNumber(b))
}

// typeOf is the typeof operator.
func typeOf(v val) string {
	switch v.k {
	case kUndef:
		return "undefined"
	case kBool:
		return "boolean"
	case kNum:
		return "number"
	case kStr:
		return "string"
	}
	return "object"
}
