package main

// Output helpers of the client commands: aligned tables that fit the terminal, JSON,
// relative times and durations.

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/term"
)

// table is a plain-text table: a header, rows, and how to fit them in a width.
type table struct {
	header []string
	rows   [][]string
	// right lists the columns aligned to the right (numbers).
	right map[int]bool
	// shrink lists the columns that may be truncated to fit: the widest of them shrinks
	// first (ties: the first listed).
	shrink []int
}

// colGap separates columns.
const colGap = "  "

// minShrunk is the narrowest a truncated column gets.
const minShrunk = 8

// render writes the table; width > 0 truncates the shrinkable columns (with "…") so
// every line fits in width runes where it can.
func (t *table) render(w io.Writer, width int) error {
	widths := make([]int, len(t.header))
	for i, h := range t.header {
		widths[i] = runeLen(h)
	}
	for _, r := range t.rows {
		for i := range min(len(r), len(widths)) {
			widths[i] = max(widths[i], runeLen(r[i]))
		}
	}
	if width > 0 {
		fit(widths, t.shrink, width-len(colGap)*(len(widths)-1))
	}
	var b strings.Builder
	line := func(cells []string) {
		b.Reset()
		for i := range widths {
			cell := ""
			if i < len(cells) {
				cell = truncate(cells[i], widths[i])
			}
			pad := widths[i] - runeLen(cell)
			last := i == len(widths)-1
			switch {
			case t.right[i]:
				b.WriteString(strings.Repeat(" ", pad))
				b.WriteString(cell)
			case last:
				b.WriteString(cell)
			default:
				b.WriteString(cell)
				b.WriteString(strings.Repeat(" ", pad))
			}
			if !last {
				b.WriteString(colGap)
			}
		}
		b.WriteByte('\n')
	}
	for _, r := range append([][]string{t.header}, t.rows...) {
		line(r)
		if _, err := io.WriteString(w, b.String()); err != nil {
			return err
		}
	}
	return nil
}

// fit narrows the shrinkable columns, widest first, until their sum fits in avail.
func fit(widths, shrink []int, avail int) {
	total := 0
	for _, w := range widths {
		total += w
	}
	for total > avail {
		best := -1
		for _, i := range shrink {
			if i < len(widths) && widths[i] > minShrunk && (best < 0 || widths[i] > widths[best]) {
				best = i
			}
		}
		if best < 0 {
			return // as narrow as it gets; the terminal wraps
		}
		widths[best]--
		total--
	}
}

func runeLen(s string) int { return utf8.RuneCountInString(s) }

// truncate shortens s to n runes, ending with "…" when it cut.
func truncate(s string, n int) string {
	if runeLen(s) <= n {
		return s
	}
	if n <= 1 {
		return string([]rune(s)[:max(n, 0)])
	}
	return string([]rune(s)[:n-1]) + "…"
}

// termWidth returns the width of w when it is a terminal, else 0 (no truncation).
func termWidth(w io.Writer) int {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return 0
	}
	if wd, _, err := term.GetSize(int(f.Fd())); err == nil && wd > 0 {
		return wd
	}
	return 0
}

// writeJSON writes v as indented JSON.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// timeLayout is how tables show instants (in the local time zone; TZ=UTC for UTC).
const timeLayout = "2006-01-02 15:04:05"

// clock returns t in the local time zone, or "—" for the zero time.
func clock(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.Local().Format(timeLayout)
}

// clockPtr is clock of an optional time.
func clockPtr(t *time.Time) string {
	if t == nil {
		return "—"
	}
	return clock(*t)
}

// ago says how long before now t was ("3m ago"), or how long after ("in 5h59m").
func ago(t, now time.Time) string {
	if t.IsZero() {
		return "—"
	}
	d := now.Sub(t)
	switch {
	case d >= -time.Second && d < time.Second:
		return "just now"
	case d > 0:
		return coarse(d) + " ago"
	default:
		return "in " + coarse(-d)
	}
}

// agoPtr is ago of an optional time.
func agoPtr(t *time.Time, now time.Time) string {
	if t == nil {
		return "—"
	}
	return ago(*t, now)
}

// coarse prints a duration with two units at most: "45s", "3m12s", "5h59m", "3d4h".
func coarse(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Round(time.Second)/time.Second))
	case d < time.Hour:
		d = d.Round(time.Second)
		return fmt.Sprintf("%dm%02ds", int(d/time.Minute), int(d%time.Minute/time.Second))
	case d < 48*time.Hour:
		d = d.Round(time.Minute)
		return fmt.Sprintf("%dh%02dm", int(d/time.Hour), int(d%time.Hour/time.Minute))
	default:
		d = d.Round(time.Hour)
		return fmt.Sprintf("%dd%dh", int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour))
	}
}

// span prints a measured duration readably: "0.04ms", "12.3ms", "1.20s", "3m12s".
func span(d time.Duration) string {
	switch {
	case d < 0:
		return "—"
	case d < time.Millisecond:
		return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
	case d < time.Second:
		return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
	case d < time.Minute:
		return fmt.Sprintf("%.2fs", d.Seconds())
	default:
		return coarse(d)
	}
}

// millis converts fractional milliseconds to a duration.
func millis(ms float64) time.Duration {
	if math.IsNaN(ms) || ms < 0 {
		return -1
	}
	return time.Duration(ms * float64(time.Millisecond))
}

// percent prints done/total as "1450/2060 (70%)".
func percent(done, total int64) string {
	if total <= 0 {
		return fmt.Sprintf("%d/%d", done, total)
	}
	return fmt.Sprintf("%d/%d (%d%%)", done, total, done*100/total)
}

// orDash returns s, or "—" when it is empty.
func orDash(s string) string {
	if strings.TrimSpace(s) == "" {
		return "—"
	}
	return s
}

// oneOf checks a flag's value against choices (case-insensitively) and returns the
// canonical spelling.
func oneOf(flag, v string, choices ...string) (string, error) {
	for _, c := range choices {
		if strings.EqualFold(v, c) {
			return c, nil
		}
	}
	return "", usagef("%s %q: want one of %s", flag, v, strings.Join(choices, ", "))
}

// sortedKeys returns m's keys in order.
func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
