// Package humanize writes byte counts for people: in log lines, error
// sentences and the dashboard.
package humanize

import "fmt"

// Bytes formats n with one decimal in the largest unit it reaches: 1.5 GB,
// 320.0 KB, 12 B (binary units, as disks and caches are measured here).
func Bytes(n int64) string {
	switch {
	case n >= 1<<40:
		return fmt.Sprintf("%.1f TB", float64(n)/(1<<40))
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
