package main

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/acl"
	"github.com/sluicehq/sluice/internal/auth"
)

// aclModeFlag is --acl-mode: off, shadow or enforce.
type aclModeFlag struct{ m *acl.Mode }

func (f aclModeFlag) String() string {
	if f.m == nil {
		return acl.ModeOff.String()
	}
	return f.m.String()
}

func (f aclModeFlag) Set(s string) (err error) { *f.m, err = acl.ParseMode(s); return err }
func (aclModeFlag) Type() string               { return "mode" }

// superUsersFlag is --super-users: Kafka's super.users syntax.
type superUsersFlag struct{ ps *[]auth.Principal }

func (f superUsersFlag) String() string {
	if f.ps == nil {
		return ""
	}
	var s []string
	for _, p := range *f.ps {
		s = append(s, p.String())
	}
	return strings.Join(s, ";")
}

func (f superUsersFlag) Set(s string) (err error) { *f.ps, err = acl.ParseSuperUsers(s); return err }
func (superUsersFlag) Type() string               { return "principals" }

// addACLFlags registers the authorization flags of agent-running commands.
func addACLFlags(f *pflag.FlagSet, cfg *acl.Config) {
	f.Var(aclModeFlag{&cfg.Mode}, "acl-mode", "authorization of Kafka requests: off (no ACLs; the ACL APIs answer SECURITY_DISABLED), shadow (decide and count every request, log would-be denials, serve everything) or enforce")
	f.Var(superUsersFlag{&cfg.SuperUsers}, "super-users", "principals allowed everything, separated by semicolons, e.g. 'User:admin;User:ANONYMOUS' (Kafka's super.users)")
	f.BoolVar(&cfg.AllowEveryoneIfNoACLFound, "allow-everyone-if-no-acl-found", false, "allow any request on a resource no ACL matches (Kafka's allow.everyone.if.no.acl.found)")
}

// aclFlags are kafka-acls' resource, principal and operation options.
type aclFlags struct {
	allow, deny, allowHosts, denyHosts []string
	principals                         []string
	operations                         []string
	topics, groups, txnIDs             []string
	cluster                            bool
	pattern                            string
}

func (a *aclFlags) registerResources(f *pflag.FlagSet, patternDefault string) {
	f.StringArrayVar(&a.topics, "topic", nil, "topic name, or prefix with --resource-pattern-type prefixed ('*': every topic; repeatable)")
	f.StringArrayVar(&a.groups, "group", nil, "consumer group (repeatable)")
	f.StringArrayVar(&a.txnIDs, "transactional-id", nil, "transactional ID (repeatable)")
	f.BoolVar(&a.cluster, "cluster", false, "the cluster resource")
	f.StringVar(&a.pattern, "resource-pattern-type", patternDefault, "literal or prefixed (list and delete also: any, match)")
}

func (a *aclFlags) registerEntries(f *pflag.FlagSet) {
	f.StringArrayVar(&a.allow, "allow-principal", nil, "principal to allow, e.g. User:alice, or User:* for everyone (repeatable)")
	f.StringArrayVar(&a.deny, "deny-principal", nil, "principal to deny (repeatable)")
	f.StringArrayVar(&a.allowHosts, "allow-host", nil, "IP address the allowed principals may connect from (default *; repeatable)")
	f.StringArrayVar(&a.denyHosts, "deny-host", nil, "IP address the denied principals are denied from (default *; repeatable)")
	f.StringArrayVar(&a.operations, "operation", nil, "Read, Write, Create, Delete, Alter, Describe, ClusterAction, DescribeConfigs, AlterConfigs, IdempotentWrite or All (repeatable)")
}

// builder turns the flags into a kadm ACL builder; forFilter leaves
// unset parts matching anything.
func (a *aclFlags) builder(forFilter bool) (*kadm.ACLBuilder, error) {
	b := kadm.NewACLs()
	pattern, err := kmsg.ParseACLResourcePatternType(a.pattern)
	if err != nil {
		return nil, fmt.Errorf("--resource-pattern-type %q: want literal or prefixed (or any, match to list and delete)", a.pattern)
	}
	b.ResourcePatternType(pattern)
	var ops []kmsg.ACLOperation
	for _, o := range a.operations {
		op, err := kmsg.ParseACLOperation(o)
		if err != nil {
			return nil, fmt.Errorf("--operation %q: unknown operation", o)
		}
		ops = append(ops, op)
	}
	hasResource := len(a.topics)+len(a.groups)+len(a.txnIDs) > 0 || a.cluster
	switch {
	case !hasResource && forFilter:
		b.AnyResource()
	case !hasResource:
		return nil, errors.New("name a resource: --topic, --group, --transactional-id or --cluster")
	default:
		b.MaybeTopics(a.topics...).MaybeGroups(a.groups...).MaybeTransactionalIDs(a.txnIDs...).MaybeClusters(a.cluster)
	}
	if forFilter {
		b.Operations(ops...) // none: any operation
		allow, deny := append(a.allow, a.principals...), append(a.deny, a.principals...)
		if len(a.allow)+len(a.deny) == 0 || len(a.principals) > 0 {
			// --principal, or no principal at all: both permissions.
			b.Allow(allow...).Deny(deny...)
		} else {
			b.MaybeAllow(allow...).MaybeDeny(deny...)
		}
		b.AllowHosts(a.allowHosts...).DenyHosts(a.denyHosts...)
		return b, nil
	}
	if len(ops) == 0 {
		return nil, errors.New("name at least one --operation")
	}
	if len(a.allow)+len(a.deny) == 0 {
		return nil, errors.New("name at least one --allow-principal or --deny-principal")
	}
	b.Operations(ops...).MaybeAllow(a.allow...).MaybeDeny(a.deny...)
	b.MaybeAllowHosts(a.allowHosts...).MaybeDenyHosts(a.denyHosts...)
	return b, nil
}

func newACLsCmd() *cobra.Command {
	var cf clientFlags
	cmd := &cobra.Command{
		Use:   "acls",
		Short: "Create, list and delete ACLs (as kafka-acls)",
		Long: `Administer Kafka ACLs through any agent (CreateAcls, DescribeAcls,
DeleteAcls). The agents must run with --acl-mode shadow or enforce, and the
caller needs ALTER (create, delete) or DESCRIBE (list) on the cluster or be
a super user. See docs/security.md.`,
	}
	cf.register(cmd)

	var ca aclFlags
	create := &cobra.Command{
		Use:   "create",
		Short: "Create ACLs",
		Example: `  sluice acls create --allow-principal User:alice --operation Read --operation Describe --topic orders
  sluice acls create --allow-principal User:etl --operation Write --topic logs. --resource-pattern-type prefixed
  sluice acls create --allow-principal User:app --operation Read --group app-consumers`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b, err := ca.builder(false)
			if err != nil {
				return err
			}
			cl, err := cf.client()
			if err != nil {
				return err
			}
			defer cl.Close()
			res, err := kadm.NewClient(cl).CreateACLs(cmd.Context(), b)
			if err != nil {
				return err
			}
			var errs []error
			for _, r := range res {
				if r.Err != nil {
					errs = append(errs, fmt.Errorf("%s %s %s on %s %s %q: %w", r.Principal, r.Permission, r.Operation, r.Pattern, r.Type, r.Name, kafkaError(r.Err, r.ErrMessage)))
					continue
				}
				fmt.Fprintf(cmd.OutOrStdout(), "created: %s %s %s from %s on %s %s %q\n", r.Principal, r.Permission, r.Operation, r.Host, r.Pattern, r.Type, r.Name)
			}
			return errors.Join(errs...)
		},
	}
	ca.registerResources(create.Flags(), "literal")
	ca.registerEntries(create.Flags())

	var la aclFlags
	list := &cobra.Command{
		Use:   "list",
		Short: "List ACLs, optionally filtered by resource, principal or operation",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b, err := la.builder(true)
			if err != nil {
				return err
			}
			cl, err := cf.client()
			if err != nil {
				return err
			}
			defer cl.Close()
			res, err := kadm.NewClient(cl).DescribeACLs(cmd.Context(), b)
			if err != nil {
				return err
			}
			var rows []kadm.DescribedACL
			for _, r := range res {
				if r.Err != nil {
					return kafkaError(r.Err, r.ErrMessage)
				}
				rows = append(rows, r.Described...)
			}
			return printACLs(cmd.OutOrStdout(), rows)
		},
	}
	la.registerResources(list.Flags(), "any")
	list.Flags().StringArrayVar(&la.principals, "principal", nil, "only ACLs of this principal (repeatable)")
	list.Flags().StringArrayVar(&la.operations, "operation", nil, "only ACLs of this operation (repeatable)")

	var da aclFlags
	del := &cobra.Command{
		Use:   "delete",
		Short: "Delete the ACLs matching the filter (resource, principal, host, operation)",
		Example: `  sluice acls delete --allow-principal User:alice --operation Read --topic orders
  sluice acls delete --topic orders                # every ACL on topic orders`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b, err := da.builder(true)
			if err != nil {
				return err
			}
			cl, err := cf.client()
			if err != nil {
				return err
			}
			defer cl.Close()
			res, err := kadm.NewClient(cl).DeleteACLs(cmd.Context(), b)
			if err != nil {
				return err
			}
			var errs []error
			n := 0
			for _, r := range res {
				if r.Err != nil {
					errs = append(errs, kafkaError(r.Err, r.ErrMessage))
					continue
				}
				for _, d := range r.Deleted {
					n++
					fmt.Fprintf(cmd.OutOrStdout(), "deleted: %s %s %s from %s on %s %s %q\n", d.Principal, d.Permission, d.Operation, d.Host, d.Pattern, d.Type, d.Name)
				}
			}
			if n == 0 && len(errs) == 0 {
				fmt.Fprintln(cmd.OutOrStdout(), "no ACL matched")
			}
			return errors.Join(errs...)
		},
	}
	da.registerResources(del.Flags(), "any")
	da.registerEntries(del.Flags())

	cmd.AddCommand(create, list, del)
	return cmd
}

func printACLs(out io.Writer, rows []kadm.DescribedACL) error {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "RESOURCE\tPATTERN\tNAME\tPRINCIPAL\tHOST\tOPERATION\tPERMISSION")
	for _, r := range rows {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Type, r.Pattern, r.Name, r.Principal, r.Host, r.Operation, r.Permission)
	}
	return w.Flush()
}
