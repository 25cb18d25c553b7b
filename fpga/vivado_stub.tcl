# A stub of the Vivado Tcl commands a block-design script uses, for plain tclsh:
#
#     tclsh fpga/vivado_stub.tcl RECORD BOARD_PART SCRIPT
#
# sources SCRIPT (a block-design script of fpga/<system>_<board>/) as Vivado would while the
# project is created, and writes to RECORD one line per design fact, tab-separated:
#
#     CELL <ip|module> <vlnv or module> <name>     a block-design cell
#     PROP <object> <key> <value>                  a property set on a cell or run
#     PORT <port|intf_port> <name> <dir or vlnv>   an external port
#     INTF_NET <net> <a> <b>                       an interface connection (pins as cell/PIN)
#     NET <net> <pin> <pin> ...                    a net (ports as /name)
#     ADDR <space> <segment> <offset> <range>      an address assignment
#     AUTOMATION <rule> <config> <cell>            apply_bd_automation
#     STEP <command>                               validate, save, wrapper, add_files
#
# BOARD_PART is what [get_property BOARD_PART [current_project]] returns ("" : no board
# files). A command the stub does not know ends the run with an error, so the script can only
# use what is recorded here; the checks of the record are in fpga/test_fpga.py.

if { $argc != 3 } {
    puts stderr "usage: tclsh vivado_stub.tcl RECORD BOARD_PART SCRIPT"
    exit 2
}
lassign $argv record_path stub_board_part bd_script
set ::rec [open $record_path w]
set ::board_part $stub_board_part

proc rec { args } { puts $::rec [join $args "\t"] }

# options of the form -name value, and the positional arguments left
proc opts { argl flags } {
    set o [dict create]
    set pos {}
    for { set i 0 } { $i < [llength $argl] } { incr i } {
        set a [lindex $argl $i]
        if { [string index $a 0] eq "-" && ![string is integer -strict $a] } {
            if { $a in $flags } {
                dict set o $a 1
            } else {
                incr i
                dict set o $a [lindex $argl $i]
            }
        } else {
            lappend pos $a
        }
    }
    return [list $o $pos]
}

proc version { args } { return "2022.1" }
proc get_ipdefs { args } { return [lindex $args end] }
namespace eval common { proc send_gid_msg { args } { puts stderr $args } }
proc current_project { args } { return project }
proc get_property { prop obj } {
    if { $prop eq "BOARD_PART" && $obj eq "project" } { return $::board_part }
    error "stub: get_property $prop $obj"
}
proc create_bd_design { name } { set ::design $name; rec STEP create_bd_design $name }
proc current_bd_design { args } { return $::design }
proc current_bd_instance { args } { return / }
proc get_bd_cells { args } {
    if { $args eq "/" } { return / }
    return "cell:[lindex $args end]"
}
proc create_bd_cell { args } {
    lassign [opts $args {}] o pos
    set name [lindex $pos 0]
    switch [dict get $o -type] {
        ip { rec CELL ip [dict get $o -vlnv] $name }
        module { rec CELL module [dict get $o -reference] $name }
        default { error "stub: create_bd_cell -type [dict get $o -type]" }
    }
    return "cell:$name"
}
proc create_bd_port { args } {
    lassign [opts $args {}] o pos
    rec PORT port [lindex $pos 0] [dict get $o -dir]
    return "port:[lindex $pos 0]"
}
proc create_bd_intf_port { args } {
    lassign [opts $args {}] o pos
    rec PORT intf_port [lindex $pos 0] [dict get $o -vlnv]
    return "intf_port:[lindex $pos 0]"
}
proc set_property { args } {
    lassign [opts $args {}] o pos
    if { [dict exists $o -dict] } {
        set obj [lindex $pos 0]
        foreach { k v } [dict get $o -dict] { rec PROP $obj $k $v }
    } else {
        lassign $pos k v obj
        rec PROP $obj $k $v
    }
}
proc apply_bd_automation { args } {
    lassign [opts $args {}] o pos
    rec AUTOMATION [dict get $o -rule] [dict get $o -config] [lindex $pos 0]
    # make_external "FIXED_IO, DDR": the ports and their connections Vivado creates
    if { [string match "*make_external*DDR*" [dict get $o -config]] } {
        rec PORT intf_port DDR xilinx.com:interface:ddrx_rtl:1.0
        rec PORT intf_port FIXED_IO xilinx.com:display_processing_system7:fixedio_rtl:1.0
        rec INTF_NET ps7_DDR /DDR ps7/DDR
        rec INTF_NET ps7_FIXED_IO /FIXED_IO ps7/FIXED_IO
    }
}
proc get_bd_pins { name } { return "pin:$name" }
proc get_bd_intf_pins { name } { return "pin:$name" }
proc get_bd_ports { name } { return "pin:/$name" }
proc get_bd_intf_ports { name } { return "pin:/$name" }
proc pin_name { obj } {
    if { ![string match "pin:*" $obj] } { error "stub: not a pin: $obj" }
    return [string range $obj 4 end]
}
proc connect_bd_intf_net { args } {
    lassign [opts $args {}] o pos
    if { [llength $pos] != 2 } { error "stub: connect_bd_intf_net needs two interfaces: $pos" }
    rec INTF_NET [dict get $o -intf_net] [pin_name [lindex $pos 0]] [pin_name [lindex $pos 1]]
}
proc connect_bd_net { args } {
    lassign [opts $args {}] o pos
    set pins {}
    foreach p $pos { lappend pins [pin_name $p] }
    rec NET [dict get $o -net] {*}$pins
}
proc get_bd_addr_spaces { name } { return "space:$name" }
proc get_bd_addr_segs { name } { return "seg:$name" }
proc assign_bd_address { args } {
    lassign [opts $args {-force}] o pos
    rec ADDR [string range [dict get $o -target_address_space] 6 end] \
        [string range [lindex $pos 0] 4 end] [dict get $o -offset] [dict get $o -range]
}
proc validate_bd_design { args } { rec STEP validate_bd_design }
proc save_bd_design { args } { rec STEP save_bd_design }
proc get_files { name } { return "file:$name" }
proc make_wrapper { args } {
    lassign [opts $args {-top}] o pos
    rec STEP make_wrapper [dict get $o -files]
    return "[string range [dict get $o -files] 5 end-3]_wrapper.v"
}
proc add_files { args } { rec STEP add_files [lindex $args end] }
proc get_runs { name } { return "run:$name" }
proc unknown { args } { error "stub: Vivado command not in the stub: [lindex $args 0]" }

if { [catch { source $bd_script } msg] } {
    close $::rec
    puts stderr "error in $bd_script: $msg"
    exit 1
}
close $::rec
exit 0
