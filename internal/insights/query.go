package insights

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
)

// MaxRows is the most rows one Insights query returns.
const MaxRows = 10000

// MaxGroupsPerQuery is how many log group names one StartQuery takes.
const MaxGroupsPerQuery = 50

// MaxPrefixesPerSource is how many name prefixes one SOURCE command takes.
const MaxPrefixesPerSource = 5

// ValidateID rejects IDs that cannot be a trace, order or request ID: empty,
// too long, or holding control characters. Everything else is quoted, so
// quotes, backslashes and pipes are harmless.
func ValidateID(kind, id string) error {
	switch {
	case id == "":
		return fmt.Errorf("empty %s", kind)
	case len(id) > 256:
		return fmt.Errorf("%s longer than 256 characters", kind)
	}
	for _, r := range id {
		if unicode.IsControl(r) {
			return fmt.Errorf("%s %q holds a control character", kind, id)
		}
	}
	return nil
}

// Quote writes s as an Insights string literal: double quotes, with
// backslashes and double quotes escaped. Nothing inside it can end the
// literal, so no ID can add a command to the query.
func Quote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`)
	return `"` + r.Replace(s) + `"`
}

// Query builds the Insights query for lines containing any of the needles.
// The server-side filter only narrows; the client checks every row.
func Query(needles []string) (string, error) {
	if len(needles) == 0 {
		return "", errors.New("query needs at least one ID")
	}
	conds := make([]string, len(needles))
	for i, n := range needles {
		if err := ValidateID("ID", n); err != nil {
			return "", err
		}
		conds[i] = "@message like " + Quote(n)
	}
	return "fields @timestamp, @message, @log, @logStream, @requestId\n" +
		"| filter " + strings.Join(conds, " or ") + "\n" +
		"| sort @timestamp asc\n" +
		fmt.Sprintf("| limit %d", MaxRows), nil
}

// SourcePrefix prepends the SOURCE command that selects log groups by name
// prefix, for endpoints that support it.
func SourcePrefix(prefixes []string, query string) string {
	q := make([]string, len(prefixes))
	for i, p := range prefixes {
		q[i] = Quote(p)
	}
	return "SOURCE logGroups(namePrefix: [" + strings.Join(q, ", ") + "])\n| " + query
}
