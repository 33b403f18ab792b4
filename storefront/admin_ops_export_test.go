package storefront

// SetOperationsServices makes the operations page ask the services named
// instead of the shop's, until restore is called. For tests whose node
// hosts only some services (a service that is not running answers only
// after AdminOpsTimeout).
func SetOperationsServices(names []string) (restore func()) {
	old := adminOpsServices
	adminOpsServices = names
	return func() { adminOpsServices = old }
}

// OperationsServices returns the services the operations page asks.
func OperationsServices() []string { return adminOpsServices }
