package bridge

import (
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Terms: the words complaints share, for the surge detector and for
// linking complaints to an incident. Deliberately simple and explainable
// (no model, nothing learned): a text is folded (NFKD, accents and case
// dropped), cut into words, and mentions, links, numbers, very short words
// and stopwords (English, Portuguese, Spanish, French and German, and the
// filler of complaints: "still", "again", "anyone") are left out. A plural
// "s" is dropped from longer words so "outages" and "outage" agree.

// stopwords per language; English is always used, and all of them when a
// post's language is unknown.
var stopwords = map[string][]string{
	"en": strings.Fields(`a about above after again against all also am an and any anyone are aren as at be because been
		before being below between both but by can cannot could did do does doing down during each else even ever every
		few for from further get gets getting got had has have having he her here hers him his how i if in into is isn it
		its just know like me more most much my no nor not now of off on once only or other our out over own please
		really same she should since so some still such than thank thanks that the their them then there these they this
		those through to today too under until up us very was we were what when where which while who why will with
		would yet you your yours day days hour hours minute minutes week time times again anybody help hello hi hey ok
		guys why what happening happened going gonna wanna need needs want wants one two three lol omg`),
	"pt": strings.Fields(`a ao aos as até com como da das de dela dele do dos e ela ele eles em entre era essa esse esta
		este eu foi há isso isto já mais mas me mesmo meu minha muito na nas nem no nos nós o os ou para pela pelo por
		porque qual quando que se sem ser seu sua são também te tem tenho um uma umas uns você vocês ainda hoje agora
		aqui está estão estou olá ola obrigado obrigada favor alguém alguem nada desde dia dias`),
	"es": strings.Fields(`a al algo como con de del el ella ellos en entre es esa ese esta este esto ha hay la las le les
		lo los me mi muy más nada ni no nos o para pero por porque que se sin su sus también te tengo tiene todo un una
		uno y ya hoy ahora aquí sigue todavía gracias hola alguien desde día días`),
	"fr": strings.Fields(`a au aux avec ce ces cette dans de des du elle en est et eux il ils je la le les leur lui ma mais
		me mes moi mon ne nos notre nous on ou par pas pour qu que qui sa se ses son sur ta te toi ton tu un une vos votre
		vous y encore aujourd hui toujours depuis merci bonjour quelqu jour jours`),
	"de": strings.Fields(`aber alle als am an auch auf aus bei bin bis bist da das dass dem den der des die doch du ein
		eine einem einen einer er es für hat hatte ich ihr im in ist ja kein mit mich mir nach nicht noch nur oder schon
		sich sie sind so und uns von vor war was wie wir zu zum zur immer heute seit danke hallo jemand tag tage`),
}

var stopAll, stopByLang = func() (map[string]bool, map[string]map[string]bool) {
	all := map[string]bool{}
	by := map[string]map[string]bool{}
	for lang, words := range stopwords {
		by[lang] = map[string]bool{}
		for _, w := range words {
			w = foldWord(w)
			all[w] = true
			by[lang][w] = true
		}
	}
	return all, by
}()

// foldWord folds a word as terms are folded: NFKD, no marks, lower case.
func foldWord(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		return strings.ToLower(s)
	}
	var b strings.Builder
	for _, r := range norm.NFKD.String(s) {
		if unicode.Is(unicode.Mn, r) {
			continue
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return b.String()
}

// isStop reports whether w (folded) is a stopword for a post in lang.
func isStop(w, lang string) bool {
	lang = strings.ToLower(lang)
	if i := strings.IndexAny(lang, "-_"); i > 0 {
		lang = lang[:i]
	}
	if m, ok := stopByLang[lang]; ok {
		return m[w] || stopByLang["en"][w]
	}
	return stopAll[w]
}

// termsOf returns the distinct terms of a text, in the order they first
// appear.
func termsOf(text, lang string) []string {
	var out []string
	for _, field := range strings.Fields(text) {
		low := strings.ToLower(field)
		if strings.HasPrefix(low, "@") || strings.Contains(low, "://") || strings.HasPrefix(low, "www.") {
			continue // a mention or a link
		}
		for _, w := range strings.FieldsFunc(foldWord(field), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
			w = normTerm(w)
			if w == "" || slices.Contains(out, w) || isStop(w, lang) {
				continue
			}
			out = append(out, w)
		}
	}
	return out
}

// normTerm is a folded word as a term: "" when too short or a number;
// a plural "s" dropped from words of five letters or more.
func normTerm(w string) string {
	letters := 0
	for _, r := range w {
		if unicode.IsLetter(r) {
			letters++
		}
	}
	if letters == 0 || len([]rune(w)) < 3 && letters < 2 {
		return ""
	}
	if len(w) >= 5 && strings.HasSuffix(w, "s") && !strings.HasSuffix(w, "ss") {
		w = w[:len(w)-1]
	}
	return w
}

// NormTerms folds terms staff typed ("Braga", "outages") as complaints'
// terms are, dropping stopwords and repeats.
func NormTerms(words []string) []string {
	var out []string
	for _, w := range words {
		for _, t := range termsOf(w, "") {
			if !slices.Contains(out, t) {
				out = append(out, t)
			}
		}
	}
	return out
}

// matchesTerms reports whether a complaint with terms has enough of an
// incident's: at least two of them (the one, when it has one).
func matchesTerms(incident, terms []string) bool {
	need := min(2, len(incident))
	if need == 0 {
		return false
	}
	n := 0
	for _, t := range incident {
		if slices.Contains(terms, t) {
			n++
		}
	}
	return n >= need
}

// caseTerms are the terms of a case's opening post.
func caseTerms(c *Case) []string { return termsOf(c.First.Text, c.First.Lang) }
