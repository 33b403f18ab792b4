package shop

import (
	"fmt"
	"math"
	"math/bits"
	"strconv"
	"strings"
)

// Money is an amount in minor units of an ISO 4217 currency: cents of EUR
// (1234 is 12.34 EUR), yen (1234 is 1234 JPY, which has no minor unit),
// fils of BHD (1234 is 1.234 BHD). MinorUnits gives each currency's
// exponent. Amounts are integers: never a float, never Decimal128.
type Money struct {
	Amount   int64  `json:"amount" bson:"amount"`
	Currency string `json:"currency" bson:"currency"`
}

// MaxAmount is the largest amount a price may have, in minor units (10^14:
// a trillion euros, a hundred trillion yen): small enough that no sum or
// product the shop makes of prices (a line's quantity times its price, a
// cart's total) can overflow int64. Arithmetic is checked all the same
// (see Money.Add, Money.Mul, Totals.Add).
const MaxAmount = 1_000_000_000_000_00

// The ISO 4217 currencies (list one, 2025) by the number of digits of
// their minor unit. Codes without a minor unit in ISO's list (precious
// metals, XDR, XTS, XXX...) are not currencies a price can be in, and are
// left out. A few codes withdrawn recently (HRK, SLL, ZWL; ANG until
// 2026) are kept so that prices stored in them stay valid.
const (
	exponent0 = "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF"
	exponent3 = "BHD IQD JOD KWD LYD OMR TND"
	exponent4 = "CLF UYW"
	exponent2 = "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND " +
		"BOB BOV BRL BSD BTN BWP BYN BZD CAD CDF CHE CHF CHW CNY COP COU " +
		"CRC CUC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL " +
		"GHS GIP GMD GTQ GYD HKD HNL HRK HTG HUF IDR ILS INR IRR JMD KES " +
		"KGS KHR KPW KYD KZT LAK LBP LKR LRD LSL MAD MDL MGA MKD MMK MNT " +
		"MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD PAB " +
		"PEN PGK PHP PKR PLN QAR RON RSD RUB SAR SBD SCR SDG SEK SGD SHP " +
		"SLE SLL SOS SRD SSP STN SVC SYP SZL THB TJS TMT TOP TRY TTD TWD " +
		"TZS UAH USD USN UYU UZS VED VES WST XCD XCG YER ZAR ZMW ZWG ZWL"
)

// minorUnits maps each currency code to its exponent.
var minorUnits = func() map[string]int {
	m := make(map[string]int, 170)
	for exp, codes := range []string{exponent0, "", exponent2, exponent3, exponent4} {
		for _, c := range strings.Fields(codes) {
			if _, dup := m[c]; dup || !wellFormedCurrency(c) {
				panic("shop: bad currency table entry " + c)
			}
			m[c] = exp
		}
	}
	return m
}()

// pow10 holds 10^exp for the exponents of the table.
var pow10 = [...]int64{1, 10, 100, 1000, 10000}

// MinorUnits returns the number of digits of currency's minor unit (its
// ISO 4217 exponent: 2 for EUR, 0 for JPY, 3 for KWD) and whether currency
// is an ISO 4217 code this package knows. Codes are upper case.
func MinorUnits(currency string) (int, bool) {
	exp, ok := minorUnits[currency]
	return exp, ok
}

// wellFormedCurrency reports whether c is three upper-case ASCII letters.
func wellFormedCurrency(c string) bool {
	return len(c) == 3 && !strings.ContainsFunc(c, func(r rune) bool { return r < 'A' || r > 'Z' })
}

// currencyProblem says what is wrong with a currency code MinorUnits does
// not know.
func currencyProblem(c string) string {
	if !wellFormedCurrency(c) {
		return "must be a three-letter ISO 4217 code like EUR"
	}
	return "must be an ISO 4217 currency code like EUR; " + c + " is not one"
}

// Validate checks that the currency is an ISO 4217 code MinorUnits knows
// and that the amount is neither negative nor over MaxAmount. Field errors
// are named field+".currency" and field+".amount".
func (m Money) Validate(field string) error {
	if _, ok := MinorUnits(m.Currency); !ok {
		return Invalid("invalid money", field+".currency", currencyProblem(m.Currency))
	}
	if m.Amount < 0 {
		return Invalid("invalid money", field+".amount", "must not be negative")
	}
	if m.Amount > MaxAmount {
		return Invalid("invalid money", field+".amount", "must be at most "+Money{Amount: MaxAmount, Currency: m.Currency}.String())
	}
	return nil
}

// Decimal formats the amount in major units with as many decimals as the
// currency's minor unit has: "12.34" for 1234 EUR, "1234" for 1234 JPY,
// "1.234" for 1234 BHD, "0.05" for 5 EUR. ParseMoney reads it back. A
// currency MinorUnits does not know is given two decimals.
func (m Money) Decimal() string {
	exp, ok := MinorUnits(m.Currency)
	if !ok {
		exp = 2
	}
	a := uint64(m.Amount)
	if m.Amount < 0 {
		a = -a // two's complement: right for math.MinInt64 too
	}
	var buf [24]byte
	digits := strconv.AppendUint(buf[:0], a, 10)
	for len(digits) <= exp {
		digits = append([]byte{'0'}, digits...)
	}
	out := make([]byte, 0, len(digits)+2)
	if m.Amount < 0 {
		out = append(out, '-')
	}
	out = append(out, digits[:len(digits)-exp]...)
	if exp > 0 {
		out = append(append(out, '.'), digits[len(digits)-exp:]...)
	}
	return string(out)
}

// String formats m as its Decimal and its currency: "12.34 EUR",
// "1234 JPY", "1.234 BHD".
func (m Money) String() string { return m.Decimal() + " " + m.Currency }

// maxParsedLength bounds the amount ParseMoney reads: MaxAmount has 15
// digits, and leading zeros beyond this are not a price anyone writes.
const maxParsedLength = 40

// ParseMoney parses an amount written in major units of currency, with at
// most as many decimals as the currency's minor unit has: "12", "12.5" or
// "12.50" for EUR, "1234" for JPY, "1.234" for BHD. It accepts ASCII digits
// and one decimal point only: no sign, exponent, spaces or thousands
// separators. The result is valid (see Money.Validate). Errors are
// invalid errors naming the field "amount" or "currency".
func ParseMoney(amount, currency string) (Money, error) {
	exp, ok := MinorUnits(currency)
	if !ok {
		return Money{}, Invalid("invalid money", "currency", currencyProblem(currency))
	}
	bad := func(problem string) (Money, error) {
		return Money{}, Invalid("invalid "+currency+" amount", "amount", problem)
	}
	example := "1234"
	if exp > 0 {
		example = "12 or 12." + "5000"[:exp]
	}
	if len(amount) > maxParsedLength {
		return bad(fmt.Sprintf("must be at most %d characters", maxParsedLength))
	}
	digits, negative := strings.CutPrefix(amount, "-")
	whole, frac, hasFrac := strings.Cut(digits, ".")
	if whole == "" || (hasFrac && frac == "") || !allDigits(whole) || !allDigits(frac) {
		return bad("must be a number such as " + example)
	}
	if negative {
		return bad("must not be negative")
	}
	if len(frac) > exp {
		if exp == 0 {
			return bad(currency + " has no minor unit: must be a whole number such as " + example)
		}
		return bad(fmt.Sprintf("must have at most %d decimals for %s", exp, currency))
	}
	tooLarge := func() (Money, error) {
		return bad("must be at most " + Money{Amount: MaxAmount, Currency: currency}.String())
	}
	whole = strings.TrimLeft(whole, "0")
	if len(whole) > 18 { // 10^18 < MaxInt64: ParseInt below cannot fail
		return tooLarge()
	}
	w, _ := strconv.ParseInt("0"+whole, 10, 64)
	if w > MaxAmount/pow10[exp] {
		return tooLarge()
	}
	f, _ := strconv.ParseInt("0"+frac, 10, 64)
	a := w*pow10[exp] + f*pow10[exp-len(frac)]
	if a > MaxAmount {
		return tooLarge()
	}
	return Money{Amount: a, Currency: currency}, nil
}

// allDigits reports whether s holds ASCII digits only ("" does).
func allDigits(s string) bool {
	return !strings.ContainsFunc(s, func(r rune) bool { return r < '0' || r > '9' })
}

// Arithmetic on money is checked: a result beyond what an int64 holds is
// an invalid error, never an amount wrapped around to a negative one and
// never one silently saturated (a total the shop cannot represent must not
// be charged as some other total).

// Add returns m + o. Both must be in the same currency; a sum that
// overflows int64 is an invalid error.
func (m Money) Add(o Money) (Money, error) {
	if m.Currency != o.Currency {
		return Money{}, Invalid("money in different currencies", "currency", "cannot add "+o.Currency+" to "+m.Currency)
	}
	s, ok := addInt64(m.Amount, o.Amount)
	if !ok {
		return Money{}, overflow("sum")
	}
	return Money{Amount: s, Currency: m.Currency}, nil
}

// Mul returns m × n (a line's quantity times its unit price); a product
// that overflows int64 is an invalid error.
func (m Money) Mul(n int64) (Money, error) {
	p, ok := mulInt64(m.Amount, n)
	if !ok {
		return Money{}, overflow("product")
	}
	return Money{Amount: p, Currency: m.Currency}, nil
}

// Totals sums amounts per currency.
type Totals map[string]int64

// Add adds m to the total of its currency. A sum that overflows int64 is
// an invalid error, and t is left unchanged.
func (t Totals) Add(m Money) error {
	s, ok := addInt64(t[m.Currency], m.Amount)
	if !ok {
		return overflow("total")
	}
	t[m.Currency] = s
	return nil
}

// overflow is the error of an amount beyond int64.
func overflow(what string) error {
	return Invalid("amount out of range", "amount", "the "+what+" is beyond the largest amount the shop can hold")
}

// addInt64 returns a + b and whether it did not overflow.
func addInt64(a, b int64) (int64, bool) {
	s := a + b
	// Overflow happened iff a and b have the same sign and s has the other.
	return s, (a >= 0) != (b >= 0) || (s >= 0) == (a >= 0)
}

// mulInt64 returns a × b and whether it did not overflow.
func mulInt64(a, b int64) (int64, bool) {
	neg := (a < 0) != (b < 0)
	hi, lo := bits.Mul64(absUint64(a), absUint64(b))
	switch {
	case hi != 0:
		return 0, false
	case neg && lo <= 1<<63:
		return int64(-lo), true // -(1<<63) wraps to math.MinInt64, as it should
	case !neg && lo <= math.MaxInt64:
		return int64(lo), true
	}
	return 0, false
}

// absUint64 returns |a| as a uint64 (right for math.MinInt64 too).
func absUint64(a int64) uint64 {
	if a < 0 {
		return -uint64(a)
	}
	return uint64(a)
}
