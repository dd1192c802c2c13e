// Package expr is the ${...} expression language of ensembles: a small
// subset of JavaScript with JavaScript's meaning on JSON values.
//
// Values are nil (null), Undefined, bool, float64, string, []any and
// map[string]any; ints, json.Number, map[string]string, []string and structs
// (by their JSON field names) are read too. Numbers are float64 throughout.
//
// Syntax, loosest binding first:
//
//	a ? b : c                  conditional
//	a || b   a ?? b            return an operand, short-circuit; ?? cannot mix with && or || unparenthesised
//	a && b
//	=== !== == !=              strict and loose equality, as JavaScript
//	< <= > >=                  numbers, or strings by UTF-16 code units
//	+ -                        + concatenates when either side is a string
//	* / %                      division by zero is Infinity, % keeps the dividend's sign
//	! - + typeof               unary
//	a.b  a?.b  a[k]  a?.[k]    property, index, .length of strings and arrays
//
// Literals: numbers (1, 1.5, .5, 1e3, 0x1f), 'single' or "double" quoted
// strings with JavaScript escapes, true, false, null, undefined, NaN,
// Infinity, [a, b] and {k: v, 'k2': v}.
//
// Names: input (the ensemble input), env.NAME or env['NAME'] (a process
// environment variable: a string, or undefined when unset; env itself is not
// a value, so the environment cannot be dumped), and earlier flow members by
// name, hyphens included: quick-answer.scoring.score. Where a hyphenated name
// is a member it is that member, longest name first (with members classify
// and classify-intent, classify-intent.output is the latter); otherwise the
// hyphen is subtraction. Member names are matched only where a value starts,
// never after a dot: input.a-b is input.a minus b. A member spelled like a
// reserved word (see Reserved), or starting with a digit, cannot be
// referenced. A member that has not run is undefined. Any other bare name is
// a compile error with a suggestion, and so is a member that runs at or after
// the one whose configuration holds the expression.
//
// Functions: length(x), lower(s), upper(s), trim(s), includes(haystack,
// needle) (substring, array element or object key), startsWith(s, p),
// endsWith(s, p), json(x[, space]), String(x), Number(x), Boolean(x) and
// JSON.stringify(x[, null, space]); methods s.includes(x), s.startsWith(p),
// s.endsWith(p), s.toLowerCase(), s.toUpperCase(), s.trim() and
// array.includes(x). Nothing else can be called; there are no loops and no
// assignment.
//
// Deliberate differences from JavaScript, to be forgiving in configuration:
//   - Reading a property of null or undefined gives undefined instead of a
//     TypeError, so a.b.c and a?.b?.c mean the same. A method called on a
//     value without that method gives undefined too.
//   - Arrays and objects convert to their JSON text wherever JavaScript would
//     convert them to a primitive: in string concatenation, templates, loose
//     equality and numeric conversion (so [5] == '[5]', and +[5] is NaN).
//   - JSON text lists object keys in sorted order; Go maps have no other.
//
// Truthiness is JavaScript's: false, 0, NaN, "", null and undefined are
// falsy. Evaluation never fails on mismatched types; the only evaluation
// error is JSON of a cyclic Go value.
//
// Templates: ParseTemplate reads a string holding ${...} parts. A template
// that is exactly one ${...} gives the expression's value with its type;
// otherwise each part is formatted as String(value) does (JSON for arrays and
// objects, "undefined" for undefined) and joined. "$${" writes a literal
// "${". Error offsets count bytes from the start of the text given to
// Compile or ParseTemplate.
package expr
