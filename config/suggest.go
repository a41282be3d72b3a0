package config

import "strings"

// suggestKey returns the allowed key that an unknown key is most likely a
// typo of: the one closest in edit distance, if that distance is small for
// the key's length (one edit up to 4 characters, two beyond) and no other
// allowed key is as close. Case is ignored.
func suggestKey(key string, allowed []string) (string, bool) {
	limit := 1
	if len(key) > 4 {
		limit = 2
	}
	best, bestDist, tie := "", limit+1, false
	for _, a := range allowed {
		switch d := editDistance(strings.ToLower(key), a); {
		case d < bestDist:
			best, bestDist, tie = a, d, false
		case d == bestDist:
			tie = true
		}
	}
	return best, best != "" && !tie
}

// editDistance is the optimal string alignment distance between a and b:
// insertions, deletions, substitutions and swaps of adjacent bytes (the
// typical "rtsp_transprot") each count one. Keys are ASCII.
func editDistance(a, b string) int {
	// Three rows of the dynamic-programming table: i-2, i-1, i.
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}
