package shop

import (
	"fmt"
	"strings"
)

// Money is an amount in minor units (cents) of an ISO 4217 currency.
// Amounts are integers: never a float, never Decimal128.
type Money struct {
	Amount   int64  `json:"amount" bson:"amount"`
	Currency string `json:"currency" bson:"currency"`
}

// MaxAmount is the largest amount a price may have, in minor units (a
// trillion major units): small enough that no sum or product the shop
// makes of prices (a line's quantity times its price, a cart's total)
// can overflow int64.
const MaxAmount = 1_000_000_000_000_00

// Validate checks the currency code and that the amount is neither
// negative nor over MaxAmount.
func (m Money) Validate(field string) error {
	if len(m.Currency) != 3 || strings.ToUpper(m.Currency) != m.Currency || strings.ContainsFunc(m.Currency, func(r rune) bool { return r < 'A' || r > 'Z' }) {
		return Invalid("invalid money", field+".currency", "must be a three-letter ISO 4217 code like EUR")
	}
	if m.Amount < 0 {
		return Invalid("invalid money", field+".amount", "must not be negative")
	}
	if m.Amount > MaxAmount {
		return Invalid("invalid money", field+".amount", fmt.Sprintf("must be at most %d", int64(MaxAmount)))
	}
	return nil
}

// String formats m as "12.34 EUR" (two minor digits).
func (m Money) String() string {
	sign := ""
	a := m.Amount
	if a < 0 {
		sign, a = "-", -a
	}
	return fmt.Sprintf("%s%d.%02d %s", sign, a/100, a%100, m.Currency)
}

// Totals sums amounts per currency.
type Totals map[string]int64

// Add adds m to the totals.
func (t Totals) Add(m Money) { t[m.Currency] += m.Amount }
