package transport

import "strings"

// MatchTopic reports whether an event key matches a topic pattern, with
// RabbitMQ's topic exchange rules: words are separated by dots, "*" matches
// exactly one word and "#" matches zero or more words.
func MatchTopic(pattern, key string) bool {
	return matchWords(strings.Split(pattern, "."), strings.Split(key, "."))
}

func matchWords(pattern, key []string) bool {
	for len(pattern) > 0 {
		switch p := pattern[0]; p {
		case "#":
			rest := pattern[1:]
			for i := 0; i <= len(key); i++ {
				if matchWords(rest, key[i:]) {
					return true
				}
			}
			return false
		case "*":
			if len(key) == 0 {
				return false
			}
		default:
			if len(key) == 0 || key[0] != p {
				return false
			}
		}
		pattern, key = pattern[1:], key[1:]
	}
	return len(key) == 0
}
