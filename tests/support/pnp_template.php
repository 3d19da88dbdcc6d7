<?php
/*
 * Runs a PNP4Nagios template as PNP's graph page does: the variables that
 * process_perfdata.pl recorded for a service ($RRDFILE, $DS, $NAME, $UNIT, $ACT, $WARN,
 * $CRIT, $MIN, $MAX ..., $hostname, $servicedesc) in scope, then the template included.
 *
 * Usage: php pnp_template.php VARIABLES.json TEMPLATE.php
 * Prints JSON: {"opt": {...}, "def": {...}, "ds_name": {...}}, one entry per graph.
 */

error_reporting(E_ALL);
set_error_handler(function ($severity, $message, $file, $line) {
    throw new ErrorException($message, 0, $severity, $file, $line);
});

extract(json_decode(file_get_contents($argv[1]), true));
$opt = $def = $ds_name = [];
include $argv[2];
echo json_encode(['opt' => $opt, 'def' => $def, 'ds_name' => $ds_name]), "\n";
