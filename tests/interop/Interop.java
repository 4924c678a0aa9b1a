// Interop: the Apache Avro Java side of the interoperability test. It
// decodes single-object messages Carrot wrote and writes one for Carrot to
// decode, with Avro's own BinaryMessageEncoder/Decoder (the reference
// implementation of single-object encoding and of schema fingerprints).
//   java Interop decode SCHEMA.avsc FILE    prints the record as JSON
//   java Interop encode SCHEMA.avsc FILE    writes a known CrmActivity
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.HashMap;
import java.util.Map;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.message.BinaryMessageDecoder;
import org.apache.avro.message.BinaryMessageEncoder;

public class Interop {
    public static void main(String[] args) throws Exception {
        Schema schema = new Schema.Parser().parse(new String(Files.readAllBytes(Paths.get(args[1])), "UTF-8"));
        if (args[0].equals("decode")) {
            BinaryMessageDecoder<GenericRecord> dec = new BinaryMessageDecoder<>(GenericData.get(), schema);
            GenericRecord r = dec.decode(ByteBuffer.wrap(Files.readAllBytes(Paths.get(args[2]))));
            System.out.println(r.toString());
            return;
        }
        GenericRecord r = new GenericData.Record(schema);
        r.put("event_id", "java-evt-1");
        r.put("program_id", "interop");
        r.put("source_system", "java");
        r.put("source_record_id", "rec-9");
        r.put("change_type", new GenericData.EnumSymbol(schema.getField("change_type").schema(), "UNDELETE"));
        r.put("activity_type", "quote");
        r.put("occurred_at", 1793628180250L);
        r.put("recorded_at", 1793628180999L);
        r.put("participant_id", "p-java");
        r.put("segment", "distributor");
        r.put("team_id", null);
        r.put("region", "emea");
        r.put("tenure_days", 42);
        r.put("account_id", null);
        r.put("opportunity_id", "006J");
        r.put("outcome", null);
        r.put("disposition", null);
        r.put("stage", "proposal");
        r.put("amount_minor", 9876543210L);
        r.put("currency", "EUR");
        r.put("duration_seconds", null);
        r.put("text_length", 17);
        Map<String, String> custom = new HashMap<>();
        custom.put("Region__c", "Süd");
        r.put("custom", custom);
        BinaryMessageEncoder<GenericRecord> enc = new BinaryMessageEncoder<>(GenericData.get(), schema);
        ByteBuffer b = enc.encode(r);
        byte[] out = new byte[b.remaining()];
        b.get(out);
        Files.write(Paths.get(args[2]), out);
    }
}
