<?php
/*
 * check_smtp_helo for PNP4Nagios. Copy to PNP's templates directory (share/templates/ of
 * the installation, /usr/local/pnp4nagios/share/templates/ from source); PNP picks a
 * template by the command name: check_smtp_helo with Nagios, smtp_helo with Icinga 2
 * (link smtp_helo.php to this file).
 *
 * Graph 1: the phases of the conversation stacked in milliseconds, the response time as a
 * line on top, the -w/-c thresholds as dashed rules. Graph 2: the steps beyond EHLO
 * (--auth-user, --mail-from, --rcpt-to) stacked in milliseconds, auth and mail, and the whole
 * transaction (connect to the last RCPT TO reply) as a line on top. Graph 3: days left on the
 * server certificate with the -D limits. A label that a check did not send is left out: a
 * plain check has no tls, a failed one has no time; a graph with none of its labels is not
 * drawn. A new phase is one more entry in $phases, a new step one more in $steps.
 */

$phases = ['connect' => '#3b6fb6', 'tls' => '#8f5fbf', 'banner' => '#2ca02c', 'helo' => '#17becf'];
$steps = ['auth' => '#7570b3', 'mail' => '#66a61e'];
$colours = [
    'time' => '#f0c419', 'warning' => '#ff8c00', 'critical' => '#e31a1c', 'days' => '#1b9e77',
    'transaction' => '#e7298a',
];

// Data source number of each perfdata label this service sent
$index = array_flip($NAME);

// Dashed rules for the warning and critical limits of data source $i, times $scale: the
// value as sent ('0.5'), or the lower end of a range ('30:', "alert below 30" for -D); the
// legend names the value. HRULEs rather than LINEs: rrdtool scales the axis to the data
// only, so a limit far above the data (-w 1 for a server that answers in 0.4 ms) is not
// drawn and does not squash the data into a flat line at the bottom; one the data come
// near is drawn across the graph.
$warnLow = $WARN_MIN ?? [];
$critLow = $CRIT_MIN ?? [];
$rules = function ($i, $scale, $unit) use ($WARN, $CRIT, $warnLow, $critLow, $colours) {
    $rules = '';
    foreach (['warning' => [$WARN, $warnLow], 'critical' => [$CRIT, $critLow]] as $kind => $given) {
        foreach ($given as $values) {
            if (isset($values[$i]) && is_numeric($values[$i])) {
                $value = $values[$i] * $scale;
                $rules .= "HRULE:$value{$colours[$kind]}:\"$kind $value $unit\\n\":dashes ";
                break;
            }
        }
    }
    return $rules;
};

$title = "$hostname / $servicedesc";
$graph = 0;

// Graphs 1 and 2: the labels of each stacked in milliseconds, in order, and one label as a
// line on top with its -w/-c thresholds; only the labels this service sent, and the graph
// only when it sent one of them
$stackedGraphs = ['SMTP phases' => [$phases, 'time'], 'Steps beyond EHLO' => [$steps, 'transaction']];
foreach ($stackedGraphs as $name => [$areas, $line]) {
    $curves = array_intersect_key($areas, $index);
    if (isset($index[$line])) {
        $curves[$line] = $colours[$line];
    }
    if (!$curves) {
        continue;
    }
    $graph++;
    $ds_name[$graph] = $name;
    $opt[$graph] = "--vertical-label ms --lower-limit 0 --units-exponent 0 --title \"$name (ms): $title\"";
    $def[$graph] = '';
    $stack = '';
    foreach ($curves as $label => $colour) {
        $i = $index[$label];
        $legend = '"' . sprintf('%-11s', $label) . '"';
        $def[$graph] .= "DEF:$label=$RRDFILE[$i]:$DS[$i]:AVERAGE CDEF:{$label}_ms=$label,1000,* "
            . ($label === $line ? "LINE2:{$label}_ms$colour:$legend " : "AREA:{$label}_ms$colour:$legend$stack ")
            . "GPRINT:{$label}_ms:LAST:\"last %8.3lf ms\" GPRINT:{$label}_ms:MAX:\"max %8.3lf ms\\n\" ";
        $stack = ':STACK';
    }
    if (isset($index[$line])) {
        $def[$graph] .= $rules($index[$line], 1000, 'ms');
    }
}

if (isset($index['cert_days'])) {
    $graph++;
    $i = $index['cert_days'];
    $ds_name[$graph] = 'Certificate days left';
    $opt[$graph] = "--vertical-label days --lower-limit 0 --title \"Certificate days left: $title\"";
    $def[$graph] = "DEF:days=$RRDFILE[$i]:$DS[$i]:AVERAGE "
        . "AREA:days{$colours['days']}:\"days left\" GPRINT:days:LAST:\"last %6.1lf\\n\" ";
    $def[$graph] .= $rules($i, 1, 'days');
}
