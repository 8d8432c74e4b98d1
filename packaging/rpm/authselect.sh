# shellcheck shell=sh
# authselect handling for the RPM's %post and %postun: scripts/package-rpm puts these
# functions where the spec says #WB_AUTHSELECT# (each scriptlet is its own script).
#
# RHEL 8 and later (and Fedora, Rocky, Alma, Oracle Linux) manage /etc/nsswitch.conf with
# authselect: it is a symlink to /etc/authselect/nsswitch.conf, which authselect writes
# from the selected profile, and the passwd and group maps always come from the profile
# (user-nsswitch.conf cannot change them). An edit to that file "works" until the next
# `authselect select --force` drops it without a trace; meanwhile `authselect check`
# fails (exit 3) and apply-changes, enable-feature and select refuse to run, which breaks
# the admin's next routine change (e.g. enabling with-mkhomedir). So on such a node the
# scriptlets leave nsswitch.conf alone and print the commands that add workbench the way
# authselect supports: a custom profile.

# True when authselect manages /etc/nsswitch.conf: the file is a symlink into
# /etc/authselect/, or authselect has a profile selected (then a regular file there is a
# leftover that the next `authselect select --force` replaces).
wb_authselect_managed() {
    if [ -L /etc/nsswitch.conf ]; then
        case "$(readlink -f /etc/nsswitch.conf)" in
            /etc/authselect/*) return 0 ;;
        esac
    fi
    command -v authselect >/dev/null 2>&1 && authselect current >/dev/null 2>&1
}

# True when the passwd and group maps in effect already list workbench (the admin's
# authselect profile has it).
wb_authselect_lists_workbench() {
    for wb_db in passwd group; do
        grep -Eq "^[[:space:]]*${wb_db}[[:space:]]*:([^#]*[[:space:]])?workbench([[:space:]]|\\[|#|\$)" \
            /etc/nsswitch.conf 2>/dev/null || return 1
    done
}

# wb_authselect_advice install|remove: tells the admin, on stderr, what was not done and
# the exact commands for the profile in use (`authselect current --raw` prints the
# profile id and its features, as given to `authselect select`).
wb_authselect_advice() {
    wb_current=$(authselect current --raw 2>/dev/null | head -n 1)
    wb_base=${wb_current%% *}
    wb_features=${wb_current#"$wb_base"}
    wb_where="profile: $wb_current"
    if [ -z "$wb_base" ]; then
        wb_base=PROFILE
        wb_features=' FEATURES'
        wb_where="PROFILE and FEATURES: what \`authselect current\` shows"
    fi
    case "$wb_base" in
        custom/*) wb_profile=$wb_base ;;
        *) wb_profile=custom/workbench ;;
    esac
    wb_file=/etc/authselect/$wb_profile/nsswitch.conf

    if [ "$1" = remove ]; then
        wb_authselect_lists_workbench || return 0
        cat >&2 <<EOF
libnss-workbench: /etc/nsswitch.conf is managed by authselect and was NOT changed. It still
  lists workbench, which is harmless (glibc skips a service whose module is gone). To take it
  out, remove workbench from the passwd, group and shadow lines of $wb_file
  and run \`authselect apply-changes\`, or select the profile it was based on again.
EOF
        return 0
    fi

    wb_authselect_lists_workbench && return 0
    {
        cat <<EOF
libnss-workbench: /etc/nsswitch.conf is managed by authselect ($wb_where)
  and was NOT changed: authselect rewrites it from the profile, so an edit would be lost at
  the next \`authselect select\` and would make \`authselect check\` fail. Until workbench is
  in the profile, directory users are not resolved. To add it (as root):

EOF
        if [ "$wb_profile" = custom/workbench ]; then
            echo "    authselect create-profile workbench -b $wb_base --symlink-meta --symlink-pam"
        fi
        # After `files` and its [ACTION] items, as on Debian; a profile without a shadow
        # map (sssd) gets one, which wins over user-nsswitch.conf.
        cat <<EOF
    sed -i -E '/^(passwd|group|shadow):/ s/ files(( +\\[[^]]*\\])*)( |\$)/ files\\1 workbench\\3/' $wb_file
    grep -q '^shadow:' $wb_file || echo 'shadow:     files workbench' >> $wb_file
EOF
        if [ "$wb_profile" = custom/workbench ]; then
            echo "    authselect select custom/workbench$wb_features"
        else
            echo "    authselect apply-changes"
        fi
        cat <<EOF

  Then check: getent -s workbench passwd USER && getent passwd USER
EOF
    } >&2
}
