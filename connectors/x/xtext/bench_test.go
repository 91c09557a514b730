package xtext

import (
	"strings"
	"testing"
)

// typicalReply is a 280-character reply as staff write them: words, a link,
// a mention, an emoji.
var typicalReply = func() string {
	s := "Hi @ana_lisboa, so sorry your train from Lisboa to Porto was 40 min late again 😞 We've passed this to the operations team; you can claim a refund at https://example.com/refunds/claim?ref=AB1234 within 28 days. Reply here or DM us if anything else goes wrong. Thanks! ^MR"
	for len([]rune(s)) < 280 {
		s += "!"
	}
	return s
}()

func BenchmarkCount(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		Count(typicalReply)
	}
}

func BenchmarkCountCJK(b *testing.B) {
	s := strings.Repeat("東京駅の遅延について。", 14)
	b.ReportAllocs()
	for b.Loop() {
		Count(s)
	}
}
