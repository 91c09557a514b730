package xtext

// punycodeLength is the length of a domain label as twitter-text measures it
// for the 63-character limit: the label is split at the IDNA separators
// (. 。 ． ｡), every part holding anything but printable ASCII is written
// "xn--" + its Punycode (RFC 3492), and the parts are joined with '.'. Only
// the length is computed. A part of more than 63 code points is at least as
// long encoded, so its exact length is not needed.
func punycodeLength(label []uint16) int {
	total, start := 0, 0
	for i := 0; i <= len(label); i++ {
		if i < len(label) && !isIDNASeparator(label[i]) {
			continue
		}
		if start > 0 {
			total++ // the '.'
		}
		total += encodedPartLength(label[start:i])
		start = i + 1
	}
	return total
}

func isIDNASeparator(c uint16) bool { return c == '.' || c == 0x3002 || c == 0xFF0E || c == 0xFF61 }

const (
	pcBase        = 36
	pcTMin        = 1
	pcTMax        = 26
	pcSkew        = 38
	pcDamp        = 700
	pcInitialBias = 72
	pcInitialN    = 128
)

func encodedPartLength(part []uint16) int {
	ascii := true
	for _, c := range part {
		if c < 0x20 || c > 0x7E {
			ascii = false
			break
		}
	}
	if ascii {
		return len(part)
	}
	// Code points as JavaScript's ucs2decode sees them: a lone surrogate is
	// a code point of its own.
	var buf [maxLabelLength + 1]rune
	cps := buf[:0]
	for i := 0; i < len(part); i++ {
		if len(cps) > maxLabelLength {
			return len(part) + 4 // over the limit whatever the encoding
		}
		c := rune(part[i])
		if isHigh(part[i]) && i+1 < len(part) && isLow(part[i+1]) {
			c = (c-0xD800)<<10 + rune(part[i+1]) - 0xDC00 + 0x10000
			i++
		}
		cps = append(cps, c)
	}
	if len(cps) > maxLabelLength {
		return len(cps) + 4
	}
	basic := 0
	for _, c := range cps {
		if c < 0x80 {
			basic++
		}
	}
	out := basic
	if basic > 0 {
		out++ // the delimiter
	}
	n, delta, bias, h := rune(pcInitialN), 0, pcInitialBias, basic
	for h < len(cps) {
		m := rune(0x7FFFFFFF)
		for _, c := range cps {
			if c >= n && c < m {
				m = c
			}
		}
		delta += int(m-n) * (h + 1)
		n = m
		for _, c := range cps {
			if c < n {
				delta++
			}
			if c != n {
				continue
			}
			for q, k := delta, pcBase; ; k += pcBase {
				t := k - bias
				if k <= bias {
					t = pcTMin
				} else if k >= bias+pcTMax {
					t = pcTMax
				}
				if q < t {
					break
				}
				out++
				q = (q - t) / (pcBase - t)
			}
			out++
			bias = adapt(delta, h+1, h == basic)
			delta = 0
			h++
		}
		delta++
		n++
	}
	return len("xn--") + out
}

func adapt(delta, points int, first bool) int {
	if first {
		delta /= pcDamp
	} else {
		delta /= 2
	}
	delta += delta / points
	k := 0
	for delta > (pcBase-pcTMin)*pcTMax/2 {
		delta /= pcBase - pcTMin
		k += pcBase
	}
	return k + (pcBase-pcTMin+1)*delta/(delta+pcSkew)
}
