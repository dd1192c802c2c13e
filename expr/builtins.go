package expr

import (
	"reflect"
	"strings"

	"golang.org/x/text/cases"
	"golang.org/x/text/language"
)

// argv holds a call's evaluated arguments by value, so calls do not
// allocate; a method's receiver is a[0].
type argv struct {
	n int
	a [3]val
}

type builtin struct {
	min, max int // argument count, not counting a method's receiver
	fn       func(argv) (val, error)
}

func builtinList() string {
	return "length, lower, upper, trim, includes, startsWith, endsWith, json, String, Number, Boolean, JSON.stringify"
}

func methodList() string {
	return "includes, startsWith, endsWith, toLowerCase, toUpperCase, trim"
}

// lookupFunc finds a function callable by bare name: name(args).
func lookupFunc(name string) (builtin, bool) {
	switch name {
	case "length":
		return builtin{1, 1, fnLength}, true
	case "lower":
		return builtin{1, 1, stringFn(lowerJS)}, true
	case "upper":
		return builtin{1, 1, stringFn(upperJS)}, true
	case "trim":
		return builtin{1, 1, stringFn(trimJS)}, true
	case "includes":
		return builtin{2, 2, fnIncludes}, true
	case "startsWith":
		return builtin{2, 2, affixFn(strings.HasPrefix)}, true
	case "endsWith":
		return builtin{2, 2, affixFn(strings.HasSuffix)}, true
	case "json":
		return builtin{1, 2, fnJSON}, true
	case "String":
		return builtin{1, 1, func(a argv) (val, error) { return strVal(toString(a.a[0])), nil }}, true
	case "Number":
		return builtin{1, 1, func(a argv) (val, error) { return numVal(toNumber(a.a[0])), nil }}, true
	case "Boolean":
		return builtin{1, 1, func(a argv) (val, error) { return boolVal(truthy(a.a[0])), nil }}, true
	}
	return builtin{}, false
}

// lookupMethod finds a method callable as value.name(args). A method called
// on a value that lacks it (a number's includes, undefined's toLowerCase)
// gives undefined rather than JavaScript's TypeError.
func lookupMethod(name string) (builtin, bool) {
	switch name {
	case "includes":
		return builtin{1, 1, methodIncludes}, true
	case "startsWith":
		return builtin{1, 1, stringMethod(func(s string, a argv) val { return boolVal(strings.HasPrefix(s, toString(a.a[1]))) })}, true
	case "endsWith":
		return builtin{1, 1, stringMethod(func(s string, a argv) val { return boolVal(strings.HasSuffix(s, toString(a.a[1]))) })}, true
	case "toLowerCase":
		return builtin{0, 0, stringMethod(func(s string, _ argv) val { return strVal(lowerJS(s)) })}, true
	case "toUpperCase":
		return builtin{0, 0, stringMethod(func(s string, _ argv) val { return strVal(upperJS(s)) })}, true
	case "trim":
		return builtin{0, 0, stringMethod(func(s string, _ argv) val { return strVal(trimJS(s)) })}, true
	}
	return builtin{}, false
}

func trimJS(s string) string { return strings.TrimFunc(s, isJSSpace) }

// lowerJS and upperJS use Unicode's full case mappings, as JavaScript does
// ("ß" upper-cases to "SS", a final sigma lower-cases to "ς"); the standard
// library maps one rune to one rune.
func lowerJS(s string) string {
	if isASCII(s) {
		return strings.ToLower(s)
	}
	return cases.Lower(language.Und).String(s)
}

func upperJS(s string) string {
	if isASCII(s) {
		return strings.ToUpper(s)
	}
	return cases.Upper(language.Und).String(s)
}

// fnLength is length(x): UTF-16 length of a string, element count of an
// array, key count of an object, 0 for null and undefined, and the length of
// the text of a number or boolean.
func fnLength(a argv) (val, error) {
	v := a.a[0]
	switch v.k {
	case kUndef, kNull:
		return numVal(0), nil
	case kStr:
		return numVal(float64(utf16Len(v.s))), nil
	case kArr:
		return numVal(float64(arrLen(v.x))), nil
	case kObj:
		return numVal(float64(objLen(v.x))), nil
	}
	return numVal(float64(utf16Len(toString(v)))), nil
}

// stringFn wraps a string transform as a function of one argument that
// coerces it to a string; null and undefined pass through unchanged.
func stringFn(f func(string) string) func(argv) (val, error) {
	return func(a argv) (val, error) {
		v := a.a[0]
		if v.k <= kNull {
			return v, nil
		}
		return strVal(f(toString(v))), nil
	}
}

// affixFn is startsWith/endsWith as functions: false for null or undefined.
func affixFn(f func(s, affix string) bool) func(argv) (val, error) {
	return func(a argv) (val, error) {
		if a.a[0].k <= kNull {
			return boolVal(false), nil
		}
		return boolVal(f(toString(a.a[0]), toString(a.a[1]))), nil
	}
}

func stringMethod(f func(string, argv) val) func(argv) (val, error) {
	return func(a argv) (val, error) {
		if a.a[0].k != kStr {
			return val{}, nil
		}
		return f(a.a[0].s, a), nil
	}
}

// fnIncludes is includes(haystack, needle): substring for strings (numbers
// and booleans are read as text), element for arrays, key for objects,
// false for null and undefined.
func fnIncludes(a argv) (val, error) {
	h, n := a.a[0], a.a[1]
	switch h.k {
	case kUndef, kNull:
		return boolVal(false), nil
	case kArr:
		return boolVal(arrayIncludes(h.x, n)), nil
	case kObj:
		return boolVal(hasKey(h.x, toString(n))), nil
	}
	return boolVal(strings.Contains(toString(h), toString(n))), nil
}

func methodIncludes(a argv) (val, error) {
	switch h := a.a[0]; h.k {
	case kStr:
		return boolVal(strings.Contains(h.s, toString(a.a[1]))), nil
	case kArr:
		return boolVal(arrayIncludes(h.x, a.a[1])), nil
	}
	return val{}, nil
}

func arrayIncludes(x any, n val) bool {
	switch arr := x.(type) {
	case []any:
		for _, e := range arr {
			if sameValueZero(fromAny(e), n) {
				return true
			}
		}
		return false
	case []string:
		if n.k != kStr {
			return false
		}
		for _, e := range arr {
			if e == n.s {
				return true
			}
		}
		return false
	}
	rv := reflect.ValueOf(x)
	for i := 0; i < rv.Len(); i++ {
		if sameValueZero(fromReflect(rv.Index(i)), n) {
			return true
		}
	}
	return false
}

// fnJSON is json(x[, space]) and JSON.stringify(x[, null, space]).
func fnJSON(a argv) (val, error) {
	indent := ""
	if a.n > 1 {
		indent = jsonIndent(a.a[1])
	}
	return stringify(a.a[0], indent)
}
