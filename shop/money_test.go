package shop_test

import (
	"errors"
	"math"
	"math/big"
	"regexp"
	"strings"
	"testing"

	"github.com/shopbus/shopbus/shop"
)

// someCurrencies covers every exponent of the table, and codes it lacks.
var someCurrencies = []string{"EUR", "USD", "JPY", "KRW", "ISK", "BHD", "KWD", "TND", "CLF", "UYW", "XXX", "XAU", "eur", "", "EURO"}

func TestMinorUnits(t *testing.T) {
	for _, tc := range []struct {
		currency string
		exp      int
		ok       bool
	}{
		{"EUR", 2, true}, {"USD", 2, true}, {"GBP", 2, true}, {"CHF", 2, true}, {"HUF", 2, true}, {"IDR", 2, true}, {"XCG", 2, true},
		{"JPY", 0, true}, {"KRW", 0, true}, {"ISK", 0, true}, {"CLP", 0, true}, {"VND", 0, true}, {"XOF", 0, true}, {"UGX", 0, true},
		{"BHD", 3, true}, {"KWD", 3, true}, {"OMR", 3, true}, {"TND", 3, true}, {"JOD", 3, true}, {"IQD", 3, true}, {"LYD", 3, true},
		{"CLF", 4, true}, {"UYW", 4, true},
		// Not currencies a price can be in, or not codes at all.
		{"XXX", 0, false}, {"XAU", 0, false}, {"XDR", 0, false}, {"XTS", 0, false}, {"ABC", 0, false},
		{"eur", 0, false}, {"", 0, false}, {"EURO", 0, false}, {"€", 0, false},
	} {
		exp, ok := shop.MinorUnits(tc.currency)
		if exp != tc.exp || ok != tc.ok {
			t.Errorf("MinorUnits(%q) = %d, %v; want %d, %v", tc.currency, exp, ok, tc.exp, tc.ok)
		}
	}
}

func TestMoneyString(t *testing.T) {
	for _, tc := range []struct {
		m    shop.Money
		want string
	}{
		{shop.Money{Amount: 1234, Currency: "EUR"}, "12.34 EUR"},
		{shop.Money{Amount: 1234, Currency: "JPY"}, "1234 JPY"},
		{shop.Money{Amount: 1234, Currency: "KRW"}, "1234 KRW"},
		{shop.Money{Amount: 1234, Currency: "BHD"}, "1.234 BHD"},
		{shop.Money{Amount: 1234, Currency: "KWD"}, "1.234 KWD"},
		{shop.Money{Amount: 1234, Currency: "CLF"}, "0.1234 CLF"},
		{shop.Money{Amount: 5, Currency: "EUR"}, "0.05 EUR"},
		{shop.Money{Amount: 5, Currency: "BHD"}, "0.005 BHD"},
		{shop.Money{Amount: 5, Currency: "JPY"}, "5 JPY"},
		{shop.Money{Amount: 0, Currency: "EUR"}, "0.00 EUR"},
		{shop.Money{Amount: 0, Currency: "JPY"}, "0 JPY"},
		{shop.Money{Amount: 100, Currency: "EUR"}, "1.00 EUR"},
		{shop.Money{Amount: -1234, Currency: "EUR"}, "-12.34 EUR"},
		{shop.Money{Amount: -5, Currency: "BHD"}, "-0.005 BHD"},
		{shop.Money{Amount: -5, Currency: "JPY"}, "-5 JPY"},
		{shop.Money{Amount: shop.MaxAmount, Currency: "EUR"}, "1000000000000.00 EUR"},
		{shop.Money{Amount: math.MaxInt64, Currency: "JPY"}, "9223372036854775807 JPY"},
		{shop.Money{Amount: math.MinInt64, Currency: "EUR"}, "-92233720368547758.08 EUR"},
		{shop.Money{Amount: math.MinInt64, Currency: "BHD"}, "-9223372036854775.808 BHD"},
		// An unknown currency gets two decimals.
		{shop.Money{Amount: 1234, Currency: "ABC"}, "12.34 ABC"},
		{shop.Money{Amount: 1234}, "12.34 "},
	} {
		if got := tc.m.String(); got != tc.want {
			t.Errorf("%#v.String() = %q, want %q", tc.m, got, tc.want)
		}
		if got, want := tc.m.Decimal(), strings.TrimSuffix(tc.want, " "+tc.m.Currency); got != want {
			t.Errorf("%#v.Decimal() = %q, want %q", tc.m, got, want)
		}
	}
}

func TestParseMoney(t *testing.T) {
	for _, tc := range []struct {
		amount, currency string
		want             int64
	}{
		{"12.34", "EUR", 1234},
		{"12.3", "EUR", 1230},
		{"12", "EUR", 1200},
		{"0.05", "EUR", 5},
		{"0", "EUR", 0},
		{"007.50", "EUR", 750},
		{"1234", "JPY", 1234},
		{"0", "JPY", 0},
		{"1.234", "BHD", 1234},
		{"1.2", "BHD", 1200},
		{"1", "KWD", 1000},
		{"0.1234", "CLF", 1234},
		{"1000000000000", "EUR", shop.MaxAmount},
		{"999999999999.99", "EUR", shop.MaxAmount - 1},
		{"100000000000000", "JPY", shop.MaxAmount},
		{"100000000000.000", "BHD", shop.MaxAmount},
		{"0000000000000000000000001000000000000", "EUR", shop.MaxAmount}, // leading zeros, 37 characters
	} {
		m, err := shop.ParseMoney(tc.amount, tc.currency)
		if err != nil || m != (shop.Money{Amount: tc.want, Currency: tc.currency}) {
			t.Errorf("ParseMoney(%q, %q) = %#v, %v; want %d %s", tc.amount, tc.currency, m, err, tc.want, tc.currency)
		}
	}
}

func TestParseMoneyRejects(t *testing.T) {
	for _, tc := range []struct {
		amount, currency string
		field, message   string // the field error, and a part of its message
	}{
		{"12.345", "EUR", "amount", "at most 2 decimals for EUR"},
		{"12.340", "EUR", "amount", "at most 2 decimals for EUR"},
		{"12.5", "JPY", "amount", "JPY has no minor unit"},
		{"12.0", "JPY", "amount", "JPY has no minor unit"},
		{"1.2345", "BHD", "amount", "at most 3 decimals for BHD"},
		{"-1", "EUR", "amount", "must not be negative"},
		{"-0.01", "EUR", "amount", "must not be negative"},
		{"-x", "EUR", "amount", "must be a number such as 12 or 12.50"},
		{"--1", "EUR", "amount", "must be a number such as 12 or 12.50"},
		{"", "EUR", "amount", "must be a number such as 12 or 12.50"},
		{".5", "EUR", "amount", "such as 12 or 12.50"},
		{"5.", "EUR", "amount", "such as 12 or 12.50"},
		{"1.2.3", "EUR", "amount", "such as 12 or 12.50"},
		{"+5", "EUR", "amount", "such as 12 or 12.50"},
		{"1e3", "EUR", "amount", "such as 12 or 12.50"},
		{" 12", "EUR", "amount", "such as 12 or 12.50"},
		{"12,50", "EUR", "amount", "such as 12 or 12.50"},
		{"1,234", "JPY", "amount", "such as 1234"},
		{"1_000", "JPY", "amount", "such as 1234"},
		{"١٢", "EUR", "amount", "such as 12 or 12.50"}, // Arabic-Indic digits
		{"x", "BHD", "amount", "such as 12 or 12.500"},
		{"1000000000000.01", "EUR", "amount", "must be at most 1000000000000.00 EUR"},
		{"100000000000001", "JPY", "amount", "must be at most 100000000000000 JPY"},
		{"100000000000.001", "BHD", "amount", "must be at most 100000000000.000 BHD"},
		{"9223372036854775807", "JPY", "amount", "must be at most"},
		{"9223372036854775808", "JPY", "amount", "must be at most"},
		{"92233720368547758.07", "EUR", "amount", "must be at most"},
		{"99999999999999999999999999999999999999", "EUR", "amount", "must be at most"},
		{strings.Repeat("0", 41), "EUR", "amount", "at most 40 characters"},
		{strings.Repeat("9", 1<<20), "EUR", "amount", "at most 40 characters"},
		{"12.34", "XXX", "currency", "XXX is not one"},
		{"12.34", "ABC", "currency", "ABC is not one"},
		{"12.34", "eur", "currency", "three-letter ISO 4217 code"},
		{"12.34", "", "currency", "three-letter ISO 4217 code"},
	} {
		m, err := shop.ParseMoney(tc.amount, tc.currency)
		var e *shop.Error
		if !errors.Is(err, shop.ErrInvalid) || !errors.As(err, &e) || len(e.Fields) != 1 {
			t.Errorf("ParseMoney(%.50q, %q) = %#v, %v; want an invalid error on %s", tc.amount, tc.currency, m, err, tc.field)
			continue
		}
		if msg := e.Field(tc.field); !strings.Contains(msg, tc.message) {
			t.Errorf("ParseMoney(%.50q, %q): field %s says %q, want it to contain %q", tc.amount, tc.currency, tc.field, msg, tc.message)
		}
	}
}

func TestMoneyValidate(t *testing.T) {
	for _, tc := range []struct {
		m              shop.Money
		field, message string // "" when valid
	}{
		{shop.Money{Amount: 1999, Currency: "EUR"}, "", ""},
		{shop.Money{Amount: 0, Currency: "JPY"}, "", ""},
		{shop.Money{Amount: shop.MaxAmount, Currency: "KWD"}, "", ""},
		{shop.Money{Amount: 1999, Currency: "XXX"}, "price.currency", "XXX is not one"},
		{shop.Money{Amount: 1999, Currency: "ZZZ"}, "price.currency", "ZZZ is not one"},
		{shop.Money{Amount: 1999, Currency: "XAU"}, "price.currency", "XAU is not one"},
		{shop.Money{Amount: 1999, Currency: "eur"}, "price.currency", "three-letter ISO 4217 code like EUR"},
		{shop.Money{Amount: 1999, Currency: "EU"}, "price.currency", "three-letter ISO 4217 code like EUR"},
		{shop.Money{Amount: 1999}, "price.currency", "three-letter ISO 4217 code like EUR"},
		{shop.Money{Amount: -1, Currency: "EUR"}, "price.amount", "must not be negative"},
		{shop.Money{Amount: shop.MaxAmount + 1, Currency: "EUR"}, "price.amount", "must be at most 1000000000000.00 EUR"},
		{shop.Money{Amount: shop.MaxAmount + 1, Currency: "JPY"}, "price.amount", "must be at most 100000000000000 JPY"},
	} {
		err := tc.m.Validate("price")
		if tc.field == "" {
			if err != nil {
				t.Errorf("%#v.Validate: %v", tc.m, err)
			}
			continue
		}
		var e *shop.Error
		if !errors.Is(err, shop.ErrInvalid) || !errors.As(err, &e) || !strings.Contains(e.Field(tc.field), tc.message) {
			t.Errorf("%#v.Validate = %v; want invalid with %s containing %q", tc.m, err, tc.field, tc.message)
		}
	}
}

// TestMoneyRoundTrip checks that ParseMoney reads back what Decimal
// writes, for every exponent and the amounts around each power of ten.
func TestMoneyRoundTrip(t *testing.T) {
	amounts := []int64{0, 1, shop.MaxAmount - 1, shop.MaxAmount}
	for p := int64(10); p < shop.MaxAmount; p *= 10 {
		amounts = append(amounts, p-1, p, p+1)
	}
	for _, cur := range []string{"EUR", "JPY", "BHD", "CLF"} {
		for _, a := range amounts {
			m := shop.Money{Amount: a, Currency: cur}
			got, err := shop.ParseMoney(m.Decimal(), cur)
			if err != nil || got != m {
				t.Errorf("ParseMoney(%q, %s) = %#v, %v; want %#v", m.Decimal(), cur, got, err, m)
			}
		}
	}
}

// isInvalid reports whether err is an invalid error.
func isInvalid(err error) bool { return errors.Is(err, shop.ErrInvalid) }

func TestMoneyArithmetic(t *testing.T) {
	eur := func(a int64) shop.Money { return shop.Money{Amount: a, Currency: "EUR"} }
	for _, tc := range []struct{ a, b int64 }{
		{1999, 3}, {0, 0}, {-5, 7}, {math.MaxInt64, 1}, {math.MaxInt64, -1}, {math.MinInt64, -1}, {math.MinInt64, 1},
		{math.MinInt64, 0}, {math.MaxInt64, 0}, {1 << 32, 1 << 31}, {-(1 << 32), 1 << 31}, {1 << 32, 1 << 32},
		{shop.MaxAmount, 90_000}, {shop.MaxAmount, 100_000}, {math.MaxInt64 / 2, 2}, {math.MaxInt64/2 + 1, 2}, {math.MinInt64 / 2, 2},
	} {
		checkAdd(t, eur(tc.a), eur(tc.b))
		checkAdd(t, eur(tc.b), eur(tc.a))
		checkMul(t, eur(tc.a), tc.b)
		checkMul(t, eur(tc.b), tc.a)
	}
	if _, err := eur(1).Add(shop.Money{Amount: 1, Currency: "JPY"}); !isInvalid(err) {
		t.Errorf("1 EUR + 1 JPY: %v, want invalid", err)
	}

	totals := shop.Totals{}
	for _, m := range []shop.Money{eur(math.MaxInt64 - 10), eur(10), {Amount: 5, Currency: "JPY"}} {
		if err := totals.Add(m); err != nil {
			t.Fatalf("Totals.Add(%v): %v", m, err)
		}
	}
	if err := totals.Add(eur(1)); !isInvalid(err) {
		t.Errorf("a total past MaxInt64: %v, want invalid", err)
	}
	if totals["EUR"] != math.MaxInt64 || totals["JPY"] != 5 || len(totals) != 2 {
		t.Errorf("totals after a refused add = %v, want them unchanged", totals)
	}
}

// checkAdd compares a.Add(b) with math/big.
func checkAdd(t *testing.T, a, b shop.Money) {
	t.Helper()
	want := new(big.Int).Add(big.NewInt(a.Amount), big.NewInt(b.Amount))
	got, err := a.Add(b)
	checkArith(t, "+", a, b.Amount, want, got, err)
}

// checkMul compares a.Mul(n) with math/big.
func checkMul(t *testing.T, a shop.Money, n int64) {
	t.Helper()
	want := new(big.Int).Mul(big.NewInt(a.Amount), big.NewInt(n))
	got, err := a.Mul(n)
	checkArith(t, "×", a, n, want, got, err)
}

// checkArith checks that got is want, or that err is invalid where want
// is beyond int64.
func checkArith(t *testing.T, op string, a shop.Money, b int64, want *big.Int, got shop.Money, err error) {
	t.Helper()
	if !want.IsInt64() {
		if !isInvalid(err) {
			t.Errorf("%d %s %d = %v, %v; want an invalid error (overflow)", a.Amount, op, b, got, err)
		}
		return
	}
	if err != nil || got != (shop.Money{Amount: want.Int64(), Currency: a.Currency}) {
		t.Errorf("%d %s %d = %v, %v; want %d", a.Amount, op, b, got, err, want.Int64())
	}
}

func FuzzMoneyArithmetic(f *testing.F) {
	f.Add(int64(1999), int64(3))
	f.Add(int64(math.MaxInt64), int64(1))
	f.Add(int64(math.MinInt64), int64(-1))
	f.Add(int64(1<<32), int64(1<<31))
	f.Fuzz(func(t *testing.T, a, b int64) {
		m := shop.Money{Amount: a, Currency: "EUR"}
		checkAdd(t, m, shop.Money{Amount: b, Currency: "EUR"})
		checkMul(t, m, b)
	})
}

// amountSyntax is what ParseMoney accepts, but for the decimals' count.
var amountSyntax = regexp.MustCompile(`^[0-9]+(\.([0-9]+))?$`)

// FuzzParseMoney checks ParseMoney against an independent reading with
// math/big: what it accepts it reads right, and it accepts every amount it
// should; what it returns String and Decimal write back so that it parses
// to the same Money.
func FuzzParseMoney(f *testing.F) {
	for _, s := range []string{"12.34", "12", "12.5", "0.05", "1234", "1.234", "-1", "", ".", "1.", ".5", "1e3",
		"1000000000000", "1000000000000.01", "9223372036854775808", "00000000000000000000000000000000000000001"} {
		for _, cur := range someCurrencies {
			f.Add(s, cur)
		}
	}
	f.Fuzz(func(t *testing.T, amount, currency string) {
		m, err := shop.ParseMoney(amount, currency)
		exp, known := shop.MinorUnits(currency)
		var want *big.Rat
		if sm := amountSyntax.FindStringSubmatch(amount); known && sm != nil && len(sm[2]) <= exp && len(amount) <= 40 {
			want, _ = new(big.Rat).SetString(amount)
			want.Mul(want, new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(exp)), nil)))
			if want.Cmp(big.NewRat(shop.MaxAmount, 1)) > 0 {
				want = nil
			}
		}
		if want == nil {
			var e *shop.Error
			if !isInvalid(err) || !errors.As(err, &e) || len(e.Fields) != 1 || (e.Fields[0].Field != "amount" && e.Fields[0].Field != "currency") {
				t.Fatalf("ParseMoney(%q, %q) = %#v, %v; want an invalid error on amount or currency", amount, currency, m, err)
			}
			return
		}
		if err != nil || !want.IsInt() || m != (shop.Money{Amount: want.Num().Int64(), Currency: currency}) {
			t.Fatalf("ParseMoney(%q, %q) = %#v, %v; want %s minor units", amount, currency, m, err, want.RatString())
		}
		if err := m.Validate("price"); err != nil {
			t.Fatalf("ParseMoney(%q, %q) = %#v, which Validate refuses: %v", amount, currency, m, err)
		}
		decimal, cur, _ := strings.Cut(m.String(), " ")
		back, err := shop.ParseMoney(decimal, cur)
		if err != nil || back != m || decimal != m.Decimal() {
			t.Fatalf("%#v.String() = %q, which parses to %#v, %v", m, m.String(), back, err)
		}
	})
}

// FuzzMoneyString checks Decimal against math/big for any amount, and that
// ParseMoney reads back the String of every valid Money.
func FuzzMoneyString(f *testing.F) {
	for _, a := range []int64{0, 1, 5, 1234, -1234, shop.MaxAmount, shop.MaxAmount + 1, math.MaxInt64, math.MinInt64} {
		for i := range someCurrencies {
			f.Add(a, uint8(i))
		}
	}
	f.Fuzz(func(t *testing.T, amount int64, i uint8) {
		m := shop.Money{Amount: amount, Currency: someCurrencies[int(i)%len(someCurrencies)]}
		exp, known := shop.MinorUnits(m.Currency)
		if !known {
			exp = 2
		}
		want := new(big.Rat).SetFrac(big.NewInt(amount), new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(exp)), nil)).FloatString(exp)
		if got := m.Decimal(); got != want {
			t.Fatalf("%#v.Decimal() = %q, want %q", m, got, want)
		}
		if m.String() != want+" "+m.Currency {
			t.Fatalf("%#v.String() = %q, want %q", m, m.String(), want+" "+m.Currency)
		}
		decimal, cur, _ := strings.Cut(m.String(), " ")
		back, err := shop.ParseMoney(decimal, cur)
		if valid := m.Validate("price") == nil; valid != (err == nil) || (valid && back != m) {
			t.Fatalf("ParseMoney of %#v.String() = %q: %#v, %v (Validate: %v)", m, m.String(), back, err, m.Validate("price"))
		}
	})
}
