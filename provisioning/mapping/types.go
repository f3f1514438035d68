// Package mapping holds attribute mappings, Entra's expression language and scoping
// filters: what turns a source object into the attributes a target receives, and what
// decides whether a source object is in scope.
package mapping

// Type is how a target attribute gets its value.
type Type string

// Mapping types (Entra's names).
const (
	Direct     Type = "Direct"
	Constant   Type = "Constant"
	Expression Type = "Expression"
	None       Type = "None"
)

// Apply says when a mapping flows.
type Apply string

// Apply modes.
const (
	Always   Apply = "Always"
	OnCreate Apply = "OnCreate"
)

// AttributeMapping maps one target attribute.
type AttributeMapping struct {
	Type Type `json:"type" yaml:"type"`
	// Source is the source attribute (Direct).
	Source string `json:"source,omitempty" yaml:"source,omitempty"`
	// Value is the constant (Constant).
	Value string `json:"value,omitempty" yaml:"value,omitempty"`
	// Expression in Entra's syntax, e.g. `Join(" ", [givenName], [surname])`.
	Expression string `json:"expression,omitempty" yaml:"expression,omitempty"`
	// Target is the target attribute name (for SCIM, an attribute path).
	Target string `json:"target" yaml:"target"`
	// Default is used when the mapped value is null or empty, on create only (Entra's
	// "Default value if null").
	Default string `json:"defaultValue,omitempty" yaml:"defaultValue,omitempty"`
	// Apply is Always (default) or OnCreate.
	Apply Apply `json:"apply,omitempty" yaml:"apply,omitempty"`
	// MatchingPrecedence > 0 makes this a matching attribute; lower numbers are tried
	// first, the first attribute that finds a target object wins.
	MatchingPrecedence int `json:"matchingPrecedence,omitempty" yaml:"matchingPrecedence,omitempty"`
	// Reference marks a target attribute whose value is a reference to another object
	// (a user's manager, a group's members): the mapped source value is a source ID that
	// the engine resolves to the referenced object's target ID.
	Reference bool `json:"reference,omitempty" yaml:"reference,omitempty"`
	// Required marks a target attribute that must have a value (Entra's "Required?"):
	// an object whose mapping yields none fails with MandatoryFieldsMissing.
	Required bool `json:"required,omitempty" yaml:"required,omitempty"`
}

// Operator is a scoping clause operator (Entra's spelling).
type Operator string

// The 14 scoping operators.
const (
	OpAnd           Operator = "&"            // bitwise AND of integers is non-zero
	OpNotAnd        Operator = "!&"           // bitwise AND of integers is zero
	OpEndsWith      Operator = "ENDS_WITH"    // case-insensitive suffix
	OpEquals        Operator = "EQUALS"       // case-insensitive equality
	OpGreaterThan   Operator = "Greater_Than" // integer comparison
	OpGreaterEquals Operator = "Greater_Than_OR_EQUALS"
	OpIncludes      Operator = "Includes" // case-insensitive substring
	OpIsFalse       Operator = "IS FALSE"
	OpIsNotNull     Operator = "IS NOT NULL"
	OpIsNull        Operator = "IS NULL"
	OpIsTrue        Operator = "IS TRUE"
	OpNotEquals     Operator = "NOT EQUALS"
	OpNotRegexMatch Operator = "NOT REGEX MATCH"
	OpRegexMatch    Operator = "REGEX MATCH"
)

// Clause is one condition of a scoping filter.
type Clause struct {
	Attribute string   `json:"attribute" yaml:"attribute"`
	Operator  Operator `json:"operator" yaml:"operator"`
	Value     string   `json:"value,omitempty" yaml:"value,omitempty"`
}

// ScopingFilter is a named group of clauses, AND-ed. A mapping's filters are OR-ed: an
// object is in scope when any filter holds (or when there are no filters).
type ScopingFilter struct {
	Name    string   `json:"name" yaml:"name"`
	Clauses []Clause `json:"clauses" yaml:"clauses"`
}

// ObjectMapping maps one source object type to one target object type.
type ObjectMapping struct {
	Attributes []AttributeMapping `json:"attributes" yaml:"attributes"`
	Scoping    []ScopingFilter    `json:"scoping,omitempty" yaml:"scoping,omitempty"`
}
